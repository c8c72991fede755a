#!/bin/bash
# PromptSRC on all ImageNet classes, the source of cross-dataset transfer.
#   DATA=/path/to/datasets bash scripts/promptsrc/xd_train.sh 1 [yacs options]
source "$(dirname "$0")/../common.sh" xd train PromptSRC "$@"
