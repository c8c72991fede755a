#!/bin/bash
# The ImageNet-trained PromptSRC evaluated on another data set (all its classes).
#   DATA=/path/to/datasets bash scripts/promptsrc/xd_test.sh caltech101 1
DATASET=${1:?give the target data set (a file name under configs/datasets/)}
SEED=${2:?give the seed}
source "$(dirname "$0")/../xd_common.sh"
DIR=$(target_dir PromptSRC "${DATASET}")
skip_if_done "${DIR}"
train_py PromptSRC "${DATASET}" "${DIR}" --model-dir "$(source_dir PromptSRC)" --load-epoch ${EPOCH} \
    --eval-only "${@:3}"
