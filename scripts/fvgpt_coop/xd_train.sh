#!/bin/bash
# FVG-PT on the frozen ImageNet CoOp run (run scripts/coop/xd_train.sh first); masks as for
# base-to-new. The head records ImageNet and its classes.
#   DATA=/path/to/datasets bash scripts/fvgpt_coop/xd_train.sh 1 [yacs options]
source "$(dirname "$0")/../common.sh" xd train FVGPT_CoOp "$@"
