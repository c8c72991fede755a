#!/bin/bash
# FVG-PT on the frozen PromptSRC run of the same data set and seed (run scripts/promptsrc first).
#   DATA=/path/to/datasets bash scripts/fvgpt_promptsrc/base2new_train.sh oxford_pets 1
# Masks are read from ${DATA}/mask/<image path relative to ${DATA}> (see masks/README.md).
source "$(dirname "$0")/../base2new_common.sh"
DIR=$(run_dir train_base FVGPT_PromptSRC)
skip_if_done "${DIR}"
train_py FVGPT_PromptSRC "${DIR}" DATASET.NUM_SHOTS ${SHOTS} DATASET.SUBSAMPLE_CLASSES base TEST.FOREGROUND_SHIFT_INDEX ${D_FG} \
    TRAINER.FVGPT.BACKBONE_DIR "$(run_dir train_base PromptSRC)" "${@:3}"
