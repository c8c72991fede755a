#!/bin/bash
# FVG-PT on MMRL's cross-dataset source run (ImageNet, all classes, TASK CD; run
# scripts/mmrl/xd_train.sh first). 5 epochs, the paper's protocol.
#   DATA=/path/to/datasets bash scripts/fvgpt_mmrl/xd_train.sh 1
CFG=${CFG:-vit_b16_cross_datasets}
MMRL_CFG=${MMRL_CFG:-vit_b16_cross_datasets}
set -- imagenet "$@"
source "$(dirname "$0")/../base2new_common.sh"
DIR=$(run_dir train_base FVGPT_MMRL)
skip_if_done "${DIR}"
train_py FVGPT_MMRL "${DIR}" DATASET.NUM_SHOTS ${SHOTS} TASK CD \
    TRAINER.FVGPT.BACKBONE_DIR "$(run_dir train_base MMRL "${MMRL_CFG}")" "${@:3}"
