#!/bin/bash
# KgCoOp on all ImageNet classes, the source of cross-dataset transfer.
#   DATA=/path/to/datasets bash scripts/kgcoop/xd_train.sh 1
SEED=${1:?give the seed}
source "$(dirname "$0")/../xd_common.sh"
xd_train KgCoOp "${@:2}"
