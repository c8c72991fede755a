#!/bin/bash
# The ImageNet-trained CoOp evaluated on another data set (all its classes).
#   DATA=/path/to/datasets bash scripts/coop/xd_test.sh caltech101 1
DATASET=${1:?give the target data set (a file name under configs/datasets/)}
SEED=${2:?give the seed}
source "$(dirname "$0")/../xd_common.sh"
DIR=$(target_dir CoOp "${DATASET}")
skip_if_done "${DIR}"
train_py CoOp "${DATASET}" "${DIR}" --model-dir "$(source_dir CoOp)" --load-epoch ${EPOCH} \
    --eval-only "${@:3}"
