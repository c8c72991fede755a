#!/bin/bash
# FVG-PT on the frozen CoOp run of the same data set and seed (run scripts/coop first).
#   DATA=/path/to/datasets bash scripts/fvgpt_coop/base2new_train.sh oxford_pets 1
# Masks are read from ${DATA}/mask/<image path relative to ${DATA}> (see masks/README.md).
set -euo pipefail
DATA=${DATA:?set DATA to the folder holding the data sets}
DATASET=$1
SEED=$2
TRAINER=FVGPT_CoOp
SHOTS=16
if [ "${DATASET}" = eurosat ]; then CFG=${CFG:-vit_b16_ep20}; else CFG=${CFG:-vit_b16_ep10}; fi
BACKBONE_DIR=output/base2new/train_base/${DATASET}/shots_${SHOTS}/CoOp/${CFG}/seed${SEED}
DIR=output/base2new/train_base/${DATASET}/shots_${SHOTS}/${TRAINER}/${CFG}/seed${SEED}
if [ -f "${DIR}/log.txt" ] && grep -q "^\* accuracy" "${DIR}/log.txt"; then
    echo "Results are available in ${DIR}, skipping"; exit 0
fi
python train.py --root "${DATA}" --seed "${SEED}" --trainer ${TRAINER} \
    --dataset-config-file "configs/datasets/${DATASET}.yaml" \
    --config-file "configs/trainers/${TRAINER}/${CFG}.yaml" \
    --output-dir "${DIR}" \
    DATASET.NUM_SHOTS ${SHOTS} DATASET.SUBSAMPLE_CLASSES base \
    TRAINER.FVGPT.BACKBONE_DIR "${BACKBONE_DIR}" "${@:3}"
