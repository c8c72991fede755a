#!/bin/bash
# The ImageNet-trained MMRL evaluated on another data set (all its classes).
#   DATA=/path/to/datasets bash scripts/mmrl/xd_test.sh caltech101 1 [yacs options]
source "$(dirname "$0")/../common.sh" xd test MMRL "$@"
