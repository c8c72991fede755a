#!/bin/bash
# The ImageNet-trained FVG-PT on MMRL evaluated on another data set: z_PC on a target
# (TEST_BRANCH pc), z_FDC on ImageNet itself. No masks needed.
#   DATA=/path/to/datasets bash scripts/fvgpt_mmrl/xd_test.sh caltech101 1 [yacs options]
source "$(dirname "$0")/../common.sh" xd test FVGPT_MMRL "$@"
