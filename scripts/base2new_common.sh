# Shared by scripts/<trainer>/{base2new,xd}_{train,test}.sh (sourced, not run):
# arguments, config choice and the output layout that scripts/parse_results.py and
# python -m sweeps.tables read (sweeps/plan.py lays runs out the same way).
#   usage of a sourcing script: DATA=/path/to/datasets bash <script> <dataset> <seed> [yacs opts]
# DATA_LAYOUT=coop (default): every data set under one ${DATA} (CoOp's DATASETS.md), --root ${DATA}.
# DATA_LAYOUT=fvgpt: the authors' download (JREion/FVG-PT docs/DATASETS.md), one parent folder
# per data set with mask/ beside the data set's folder; --root is that parent, as in their
# run_tuning.py (get_dataset_config).
set -euo pipefail
DATA=${DATA:?set DATA to the folder holding the data sets}
DATASET=${1:?give the data set (a file name under configs/datasets/, e.g. oxford_pets)}
SEED=${2:?give the seed}
case "${DATA_LAYOUT:-coop}" in
    coop) ROOT="${DATA}" ;;
    fvgpt)
        case "${DATASET}" in
            caltech101) ROOT="${DATA}/caltech-101" ;;
            dtd) ROOT="${DATA}/dtd/dtd" ;;
            fgvc_aircraft) ROOT="${DATA}/fgvc_aircraft/fgvc-aircraft-2013b" ;;
            oxford_flowers) ROOT="${DATA}/flowers-102" ;;
            sun397) ROOT="${DATA}/sun-397" ;;
            imagenet) ROOT="${DATA}/imagenet-1k" ;;
            eurosat | food101 | oxford_pets | stanford_cars | ucf101) ROOT="${DATA}/${DATASET}" ;;
            *) echo "DATA_LAYOUT=fvgpt has no folder for ${DATASET} (the authors release 11 data sets)" >&2
               exit 2 ;;
        esac ;;
    *) echo "DATA_LAYOUT must be coop or fvgpt, got ${DATA_LAYOUT}" >&2; exit 2 ;;
esac
SHOTS=16
OUTPUT=${OUTPUT:-output/base2new}  # where runs go; python -m sweeps.tables reads it
# EuroSAT uses the 20-epoch config (paper Supp. 0.B); CFG overrides the choice.
if [ "${DATASET}" = eurosat ]; then CFG=${CFG:-vit_b16_ep20}; EPOCH=20; else CFG=${CFG:-vit_b16_ep10}; EPOCH=10; fi

# D_fg (foreground shift index, paper Supp. 0.A) on the base test set needs test-image masks;
# D_FG=False skips it where there are none.
D_FG=${D_FG:-True}

run_dir() {  # run_dir <train_base|test_new> <trainer> [config name, default ${CFG}]
    echo "${OUTPUT}/$1/${DATASET}/shots_${SHOTS}/$2/${3:-${CFG}}/seed${SEED}"
}

skip_if_done() {  # skip_if_done <run dir>: exit when the run is finished (its result.json exists)
    if [ -f "$1/result.json" ]; then
        echo "Results are available in $1/result.json, skipping"; exit 0
    fi
}

train_py() {  # train_py <trainer> <output dir> [train.py arguments and yacs opts]
    local trainer=$1 out=$2
    shift 2
    python train.py --root "${ROOT}" --seed "${SEED}" --trainer "${trainer}" \
        --dataset-config-file "configs/datasets/${DATASET}.yaml" \
        --config-file "configs/trainers/${trainer}/${CFG}.yaml" \
        --output-dir "${out}" "$@"
}
