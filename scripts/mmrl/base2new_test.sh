#!/bin/bash
# MMRL on the new classes (its CLS head) from its base-class run; loads model-best.pth.tar if
# saved, else the last epoch (upstream passes no --load-epoch either).
#   DATA=/path/to/datasets bash scripts/mmrl/base2new_test.sh oxford_pets 1
CFG=${CFG:-vit_b16}
source "$(dirname "$0")/../base2new_common.sh"
train_py MMRL "$(run_dir test_new MMRL)" --model-dir "$(run_dir train_base MMRL)" --eval-only \
    DATASET.NUM_SHOTS ${SHOTS} DATASET.SUBSAMPLE_CLASSES new TASK B2N "${@:3}"
