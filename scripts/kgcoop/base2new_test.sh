#!/bin/bash
# KgCoOp evaluated on the new classes from its base-class checkpoint.
#   DATA=/path/to/datasets bash scripts/kgcoop/base2new_test.sh oxford_pets 1
# No --load-epoch: train.py loads the best-validation checkpoint where the run saved one,
# else its last saved epoch (the log names the file).
source "$(dirname "$0")/../base2new_common.sh"
train_py KgCoOp "$(run_dir test_new KgCoOp)" \
    --model-dir "$(run_dir train_base KgCoOp)" --eval-only \
    DATASET.NUM_SHOTS ${SHOTS} DATASET.SUBSAMPLE_CLASSES new "${@:3}"
