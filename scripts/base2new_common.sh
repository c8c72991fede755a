# Shared by scripts/{coop,fvgpt_coop}/base2new_{train,test}.sh (sourced, not run):
# arguments, config choice and the output layout that sweeps/plan.py also uses (python -m sweeps.tables reads it).
#   usage of a sourcing script: DATA=/path/to/datasets bash <script> <dataset> <seed> [yacs opts]
set -euo pipefail
DATA=${DATA:?set DATA to the folder holding the data sets}
DATASET=${1:?give the data set (a file name under configs/datasets/, e.g. oxford_pets)}
SEED=${2:?give the seed}
SHOTS=16
OUTPUT=${OUTPUT:-output/base2new}  # where runs go; python -m sweeps.tables reads it
# EuroSAT uses the 20-epoch config (paper Supp. 0.B); CFG overrides the choice.
if [ "${DATASET}" = eurosat ]; then CFG=${CFG:-vit_b16_ep20}; EPOCH=20; else CFG=${CFG:-vit_b16_ep10}; EPOCH=10; fi

run_dir() {  # run_dir <train_base|test_new> <trainer>
    echo "${OUTPUT}/$1/${DATASET}/shots_${SHOTS}/$2/${CFG}/seed${SEED}"
}

skip_if_done() {  # skip_if_done <run dir>: exit when its log already holds a result
    if [ -f "$1/log.txt" ] && grep -q "^\* accuracy" "$1/log.txt"; then
        echo "Results are available in $1, skipping"; exit 0
    fi
}

train_py() {  # train_py <trainer> <output dir> [train.py arguments and yacs opts]
    local trainer=$1 out=$2
    shift 2
    python train.py --root "${DATA}" --seed "${SEED}" --trainer "${trainer}" \
        --dataset-config-file "configs/datasets/${DATASET}.yaml" \
        --config-file "configs/trainers/${trainer}/${CFG}.yaml" \
        --output-dir "${out}" "$@"
}
