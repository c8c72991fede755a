#!/bin/bash
# MMRL's ImageNet run on a target data set (its CLS head, TASK CD). REP_DIM must be the source
# run's, so upstream's per-data-set table stays off here (its EuroSAT entry would change it).
#   DATA=/path/to/datasets bash scripts/mmrl/xd_test.sh oxford_pets 1
CFG=${CFG:-vit_b16_cross_datasets}
source "$(dirname "$0")/../base2new_common.sh"
train_py MMRL "$(run_dir test_new MMRL)" --model-dir "$(DATASET=imagenet; run_dir train_base MMRL)" \
    --eval-only TASK CD TRAINER.MMRL.DATASET_OVERRIDES False "${@:3}"
