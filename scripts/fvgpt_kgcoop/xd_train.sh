#!/bin/bash
# FVG-PT on the frozen ImageNet KgCoOp run (run scripts/kgcoop/xd_train.sh first); masks as for
# base-to-new. The head records ImageNet and its classes.
#   DATA=/path/to/datasets bash scripts/fvgpt_kgcoop/xd_train.sh 1 [yacs options]
source "$(dirname "$0")/../common.sh" xd train FVGPT_KgCoOp "$@"
