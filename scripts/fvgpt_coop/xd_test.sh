#!/bin/bash
# The ImageNet-trained FVG-PT on CoOp evaluated on another data set: TEST_BRANCH auto picks
# z_PC there (z_FDC if the data set is imagenet itself). No masks needed.
#   DATA=/path/to/datasets bash scripts/fvgpt_coop/xd_test.sh caltech101 1
DATASET=${1:?give the target data set (a file name under configs/datasets/)}
SEED=${2:?give the seed}
source "$(dirname "$0")/../xd_common.sh"
xd_test FVGPT_CoOp TRAINER.FVGPT.BACKBONE_DIR "$(source_dir CoOp)" "${@:3}"
