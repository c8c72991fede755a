#!/bin/bash
# KgCoOp on the base classes (the backbone FVG-PT builds on), as the upstream KgCoOp scripts do.
#   DATA=/path/to/datasets bash scripts/kgcoop/base2new_train.sh oxford_pets 1
source "$(dirname "$0")/../base2new_common.sh"
DIR=$(run_dir train_base KgCoOp)
skip_if_done "${DIR}"
train_py KgCoOp "${DIR}" DATASET.NUM_SHOTS ${SHOTS} DATASET.SUBSAMPLE_CLASSES base TEST.FOREGROUND_SHIFT_INDEX ${D_FG} "${@:3}"
