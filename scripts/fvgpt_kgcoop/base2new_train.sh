#!/bin/bash
# FVG-PT on the frozen KgCoOp run of the same data set and seed (run scripts/kgcoop first).
#   DATA=/path/to/datasets bash scripts/fvgpt_kgcoop/base2new_train.sh oxford_pets 1
# Masks are read from ${DATA}/mask/<image path relative to ${DATA}> (see masks/README.md).
source "$(dirname "$0")/../base2new_common.sh"
DIR=$(run_dir train_base FVGPT_KgCoOp)
skip_if_done "${DIR}"
train_py FVGPT_KgCoOp "${DIR}" DATASET.NUM_SHOTS ${SHOTS} DATASET.SUBSAMPLE_CLASSES base TEST.FOREGROUND_SHIFT_INDEX ${D_FG} \
    TRAINER.FVGPT.BACKBONE_DIR "$(run_dir train_base KgCoOp)" "${@:3}"
