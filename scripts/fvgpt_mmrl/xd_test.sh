#!/bin/bash
# FVG-PT's ImageNet run on a target data set: z_PC on MMRL's CLS logits (TASK CD), no masks needed.
#   DATA=/path/to/datasets bash scripts/fvgpt_mmrl/xd_test.sh oxford_pets 1
CFG=${CFG:-vit_b16_cross_datasets}
MMRL_CFG=${MMRL_CFG:-vit_b16_cross_datasets}
XD_EPOCH=${XD_EPOCH:-5}  # the last epoch of CFG
source "$(dirname "$0")/../base2new_common.sh"
train_py FVGPT_MMRL "$(run_dir test_new FVGPT_MMRL)" \
    --model-dir "$(DATASET=imagenet; run_dir train_base FVGPT_MMRL)" --load-epoch ${XD_EPOCH} --eval-only \
    TASK CD TRAINER.FVGPT.TEST_BRANCH pc TRAINER.MMRL.DATASET_OVERRIDES False \
    TRAINER.FVGPT.BACKBONE_DIR "$(DATASET=imagenet; run_dir train_base MMRL "${MMRL_CFG}")" "${@:3}"
