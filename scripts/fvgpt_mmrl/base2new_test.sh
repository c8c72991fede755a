#!/bin/bash
# FVG-PT on the new classes: the prior-calibration branch z_PC on MMRL's CLS logits (no masks needed).
#   DATA=/path/to/datasets bash scripts/fvgpt_mmrl/base2new_test.sh oxford_pets 1
MMRL_CFG=${MMRL_CFG:-vit_b16}
# No --load-epoch: train.py loads the best-validation checkpoint where the run saved one,
# else its last saved epoch (the log names the file).
source "$(dirname "$0")/../base2new_common.sh"
train_py FVGPT_MMRL "$(run_dir test_new FVGPT_MMRL)" \
    --model-dir "$(run_dir train_base FVGPT_MMRL)" --eval-only \
    DATASET.NUM_SHOTS ${SHOTS} DATASET.SUBSAMPLE_CLASSES new TASK B2N \
    TRAINER.FVGPT.BACKBONE_DIR "$(run_dir train_base MMRL "${MMRL_CFG}")" "${@:3}"
