#!/bin/bash
# CoOp on all ImageNet classes, the source of cross-dataset transfer.
#   DATA=/path/to/datasets bash scripts/coop/xd_train.sh 1
SEED=${1:?give the seed}
source "$(dirname "$0")/../xd_common.sh"
DIR=$(source_dir CoOp)
skip_if_done "${DIR}"
train_py CoOp imagenet "${DIR}" DATASET.NUM_SHOTS ${SHOTS} "${@:2}"
