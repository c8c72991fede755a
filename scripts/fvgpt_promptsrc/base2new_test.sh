#!/bin/bash
# FVG-PT on the new classes: the prior-calibration branch z_PC (no masks needed).
#   DATA=/path/to/datasets bash scripts/fvgpt_promptsrc/base2new_test.sh oxford_pets 1
# No --load-epoch: train.py loads the best-validation checkpoint where the run saved one,
# else its last saved epoch (the log names the file).
source "$(dirname "$0")/../base2new_common.sh"
train_py FVGPT_PromptSRC "$(run_dir test_new FVGPT_PromptSRC)" \
    --model-dir "$(run_dir train_base FVGPT_PromptSRC)" --eval-only \
    DATASET.NUM_SHOTS ${SHOTS} DATASET.SUBSAMPLE_CLASSES new \
    TRAINER.FVGPT.BACKBONE_DIR "$(run_dir train_base PromptSRC)" "${@:3}"
