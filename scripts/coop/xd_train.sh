#!/bin/bash
# CoOp on all ImageNet classes, the source of cross-dataset transfer.
#   DATA=/path/to/datasets bash scripts/coop/xd_train.sh 1 [yacs options]
source "$(dirname "$0")/../common.sh" xd train CoOp "$@"
