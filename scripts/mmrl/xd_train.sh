#!/bin/bash
# MMRL cross-dataset source run: ImageNet, all 1000 classes, TASK CD (5 epochs as the FVG-PT
# authors; CFG=vit_b16_cross_datasets_ep1 for upstream MMRL's 1 epoch).
#   DATA=/path/to/datasets bash scripts/mmrl/xd_train.sh 1
CFG=${CFG:-vit_b16_cross_datasets}
set -- imagenet "$@"
source "$(dirname "$0")/../base2new_common.sh"
DIR=$(run_dir train_base MMRL)
skip_if_done "${DIR}"
train_py MMRL "${DIR}" DATASET.NUM_SHOTS ${SHOTS} TASK CD "${@:3}"
