#!/bin/bash
# MMRL on the base classes (the backbone FVG-PT builds on), TASK B2N (its default).
# configs/trainers/MMRL/vit_b16 for every data set, as the FVG-PT authors ran it (upstream MMRL:
# CFG=vit_b16_imagenet for ImageNet, plus TRAINER.MMRL.DATASET_OVERRIDES True for its
# per-data-set table).
#   DATA=/path/to/datasets bash scripts/mmrl/base2new_train.sh oxford_pets 1 [yacs options]
source "$(dirname "$0")/../common.sh" base2new train MMRL "$@"
