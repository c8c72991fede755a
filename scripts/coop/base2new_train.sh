#!/bin/bash
# CoOp on the base classes (the backbone FVG-PT builds on), CoOp-repository style.
#   DATA=/path/to/datasets bash scripts/coop/base2new_train.sh oxford_pets 1
# EuroSAT uses the 20-epoch config (paper Supp. 0.B); CFG overrides the choice.
set -euo pipefail
DATA=${DATA:?set DATA to the folder holding the data sets}
DATASET=$1
SEED=$2
TRAINER=CoOp
SHOTS=16
if [ "${DATASET}" = eurosat ]; then CFG=${CFG:-vit_b16_ep20}; else CFG=${CFG:-vit_b16_ep10}; fi
DIR=output/base2new/train_base/${DATASET}/shots_${SHOTS}/${TRAINER}/${CFG}/seed${SEED}
if [ -f "${DIR}/log.txt" ] && grep -q "^\* accuracy" "${DIR}/log.txt"; then
    echo "Results are available in ${DIR}, skipping"; exit 0
fi
python train.py --root "${DATA}" --seed "${SEED}" --trainer ${TRAINER} \
    --dataset-config-file "configs/datasets/${DATASET}.yaml" \
    --config-file "configs/trainers/${TRAINER}/${CFG}.yaml" \
    --output-dir "${DIR}" \
    DATASET.NUM_SHOTS ${SHOTS} DATASET.SUBSAMPLE_CLASSES base "${@:3}"
