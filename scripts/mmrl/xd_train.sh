#!/bin/bash
# MMRL on all ImageNet classes, the source of cross-dataset transfer.
# TASK CD, 5 epochs as the FVG-PT authors (CFG=vit_b16_cross_datasets_ep1 for upstream MMRL's 1).
#   DATA=/path/to/datasets bash scripts/mmrl/xd_train.sh 1 [yacs options]
source "$(dirname "$0")/../common.sh" xd train MMRL "$@"
