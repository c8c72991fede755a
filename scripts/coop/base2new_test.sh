#!/bin/bash
# CoOp evaluated on the new classes from its base-class checkpoint.
#   DATA=/path/to/datasets bash scripts/coop/base2new_test.sh oxford_pets 1
set -euo pipefail
DATA=${DATA:?set DATA to the folder holding the data sets}
DATASET=$1
SEED=$2
TRAINER=CoOp
SHOTS=16
if [ "${DATASET}" = eurosat ]; then CFG=${CFG:-vit_b16_ep20}; EPOCH=20; else CFG=${CFG:-vit_b16_ep10}; EPOCH=10; fi
MODEL_DIR=output/base2new/train_base/${DATASET}/shots_${SHOTS}/${TRAINER}/${CFG}/seed${SEED}
DIR=output/base2new/test_new/${DATASET}/shots_${SHOTS}/${TRAINER}/${CFG}/seed${SEED}
python train.py --root "${DATA}" --seed "${SEED}" --trainer ${TRAINER} \
    --dataset-config-file "configs/datasets/${DATASET}.yaml" \
    --config-file "configs/trainers/${TRAINER}/${CFG}.yaml" \
    --output-dir "${DIR}" --model-dir "${MODEL_DIR}" --load-epoch ${EPOCH} --eval-only \
    DATASET.NUM_SHOTS ${SHOTS} DATASET.SUBSAMPLE_CLASSES new "${@:3}"
