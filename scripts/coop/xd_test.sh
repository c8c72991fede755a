#!/bin/bash
# The ImageNet-trained CoOp evaluated on another data set (all its classes).
#   DATA=/path/to/datasets bash scripts/coop/xd_test.sh caltech101 1 [yacs options]
source "$(dirname "$0")/../common.sh" xd test CoOp "$@"
