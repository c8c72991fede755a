#!/bin/bash
# PromptSRC evaluated on the new classes from its base-class checkpoint.
#   DATA=/path/to/datasets bash scripts/promptsrc/base2new_test.sh oxford_pets 1
source "$(dirname "$0")/../base2new_common.sh"
train_py PromptSRC "$(run_dir test_new PromptSRC)" \
    --model-dir "$(run_dir train_base PromptSRC)" --load-epoch ${EPOCH} --eval-only \
    DATASET.NUM_SHOTS ${SHOTS} DATASET.SUBSAMPLE_CLASSES new "${@:3}"
