#!/bin/bash
# The ImageNet-trained PromptSRC evaluated on another data set (all its classes).
#   DATA=/path/to/datasets bash scripts/promptsrc/xd_test.sh caltech101 1
DATASET=${1:?give the target data set (a file name under configs/datasets/)}
SEED=${2:?give the seed}
source "$(dirname "$0")/../xd_common.sh"
xd_test PromptSRC "${@:3}"
