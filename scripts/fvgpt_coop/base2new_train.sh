#!/bin/bash
# FVG-PT on the frozen CoOp run of the same data set and seed (run scripts/coop first).
#   DATA=/path/to/datasets bash scripts/fvgpt_coop/base2new_train.sh oxford_pets 1
# Masks are read from <root>/mask/<image path relative to <root>>, <root> = ${DATA} or, with
# DATA_LAYOUT=fvgpt, the data set's own parent folder (see masks/README.md).
source "$(dirname "$0")/../base2new_common.sh"
DIR=$(run_dir train_base FVGPT_CoOp)
skip_if_done "${DIR}"
train_py FVGPT_CoOp "${DIR}" DATASET.NUM_SHOTS ${SHOTS} DATASET.SUBSAMPLE_CLASSES base \
    TEST.FOREGROUND_SHIFT_INDEX ${D_FG} \
    TRAINER.FVGPT.BACKBONE_DIR "$(run_dir train_base CoOp)" "${@:3}"
