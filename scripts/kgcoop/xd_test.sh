#!/bin/bash
# The ImageNet-trained KgCoOp evaluated on another data set (all its classes).
#   DATA=/path/to/datasets bash scripts/kgcoop/xd_test.sh caltech101 1 [yacs options]
source "$(dirname "$0")/../common.sh" xd test KgCoOp "$@"
