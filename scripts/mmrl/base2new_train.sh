#!/bin/bash
# MMRL on the base classes (the backbone FVG-PT builds on), TASK B2N. configs/trainers/MMRL/vit_b16
# for every data set, as the FVG-PT authors ran it (upstream MMRL: CFG=vit_b16_imagenet for ImageNet,
# plus TRAINER.MMRL.DATASET_OVERRIDES True for its per-data-set table).
#   DATA=/path/to/datasets bash scripts/mmrl/base2new_train.sh oxford_pets 1
CFG=${CFG:-vit_b16}
source "$(dirname "$0")/../base2new_common.sh"
DIR=$(run_dir train_base MMRL)
skip_if_done "${DIR}"
train_py MMRL "${DIR}" DATASET.NUM_SHOTS ${SHOTS} DATASET.SUBSAMPLE_CLASSES base TEST.FOREGROUND_SHIFT_INDEX ${D_FG} TASK B2N "${@:3}"
