#!/bin/bash
# PromptSRC on all ImageNet classes, the source of cross-dataset transfer.
#   DATA=/path/to/datasets bash scripts/promptsrc/xd_train.sh 1
SEED=${1:?give the seed}
source "$(dirname "$0")/../xd_common.sh"
DIR=$(source_dir PromptSRC)
skip_if_done "${DIR}"
train_py PromptSRC imagenet "${DIR}" DATASET.NUM_SHOTS ${SHOTS} "${@:2}"
