#!/bin/bash
# FVG-PT on the frozen MMRL run of the same data set and seed (run scripts/mmrl first; MMRL_CFG
# names its config, default vit_b16). CFG: vit_b16_ep10 (EuroSAT vit_b16_ep20), the paper's
# protocol; CFG=vit_b16 for the FVG-PT authors' AdamW config.
#   DATA=/path/to/datasets bash scripts/fvgpt_mmrl/base2new_train.sh oxford_pets 1
# Masks are read from ${DATA}/mask/<image path relative to ${DATA}> (see masks/README.md).
MMRL_CFG=${MMRL_CFG:-vit_b16}
source "$(dirname "$0")/../base2new_common.sh"
DIR=$(run_dir train_base FVGPT_MMRL)
skip_if_done "${DIR}"
train_py FVGPT_MMRL "${DIR}" DATASET.NUM_SHOTS ${SHOTS} DATASET.SUBSAMPLE_CLASSES base TEST.FOREGROUND_SHIFT_INDEX ${D_FG} TASK B2N \
    TRAINER.FVGPT.BACKBONE_DIR "$(run_dir train_base MMRL "${MMRL_CFG}")" "${@:3}"
