#!/bin/bash
# The ImageNet-trained FVG-PT on PromptSRC evaluated on another data set: TEST_BRANCH auto picks
# z_PC there (z_FDC if the data set is imagenet itself). No masks needed.
#   DATA=/path/to/datasets bash scripts/fvgpt_promptsrc/xd_test.sh caltech101 1
DATASET=${1:?give the target data set (a file name under configs/datasets/)}
SEED=${2:?give the seed}
source "$(dirname "$0")/../xd_common.sh"
DIR=$(target_dir FVGPT_PromptSRC "${DATASET}")
skip_if_done "${DIR}"
train_py FVGPT_PromptSRC "${DATASET}" "${DIR}" --model-dir "$(source_dir FVGPT_PromptSRC)" \
    --load-epoch ${EPOCH} --eval-only TRAINER.FVGPT.BACKBONE_DIR "$(source_dir PromptSRC)" "${@:3}"
