#!/bin/bash
# FVG-PT on the frozen ImageNet CoOp run (run scripts/coop/xd_train.sh first); masks as for
# base-to-new. The head records ImageNet and its classes: evaluation uses z_FDC there, z_PC elsewhere.
#   DATA=/path/to/datasets bash scripts/fvgpt_coop/xd_train.sh 1
SEED=${1:?give the seed}
source "$(dirname "$0")/../xd_common.sh"
xd_train FVGPT_CoOp TRAINER.FVGPT.BACKBONE_DIR "$(source_dir CoOp)" "${@:2}"
