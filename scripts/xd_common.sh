# Shared by scripts/<trainer>/xd_{train,test}.sh (sourced, not run): cross-dataset transfer,
# the FVG-PT paper's protocol (Sec. 4.1, Supp. 0.B.1): train on ImageNet, all classes, 16 shots,
# 5 epochs (configs/trainers/<trainer>/vit_b16_xd.yaml); evaluate on the 10 other data sets.
#   usage: DATA=/path/to/datasets bash scripts/<trainer>/xd_train.sh <seed> [yacs opts]
#          DATA=/path/to/datasets bash scripts/<trainer>/xd_test.sh <dataset> <seed> [yacs opts]
# Layout as CoCoOp's / PromptSRC's cross-dataset scripts:
#   ${OUTPUT}/imagenet/<trainer>/<cfg>_16shots/seed<S>                 (trained on ImageNet)
#   ${OUTPUT}/evaluation/<trainer>/<cfg>_16shots/<dataset>/seed<S>     (evaluated on a target)
set -euo pipefail
DATA=${DATA:?set DATA to the folder holding the data sets}
SHOTS=16
OUTPUT=${OUTPUT:-output/cross_dataset}
CFG=${CFG:-vit_b16_xd}
EPOCH=${EPOCH:-5}  # the checkpoint evaluated: the config's last epoch

source_dir() {  # source_dir <trainer>: the run trained on ImageNet
    echo "${OUTPUT}/imagenet/$1/${CFG}_${SHOTS}shots/seed${SEED}"
}

target_dir() {  # target_dir <trainer> <dataset>: its evaluation on a data set
    echo "${OUTPUT}/evaluation/$1/${CFG}_${SHOTS}shots/$2/seed${SEED}"
}

skip_if_done() {  # skip_if_done <run dir>: exit when its log already holds a result
    if [ -f "$1/log.txt" ] && grep -q "^\* accuracy" "$1/log.txt"; then
        echo "Results are available in $1, skipping"; exit 0
    fi
}

train_py() {  # train_py <trainer> <dataset> <output dir> [train.py arguments and yacs opts]
    local trainer=$1 dataset=$2 out=$3
    shift 3
    python train.py --root "${DATA}" --seed "${SEED}" --trainer "${trainer}" \
        --dataset-config-file "configs/datasets/${dataset}.yaml" \
        --config-file "configs/trainers/${trainer}/${CFG}.yaml" \
        --output-dir "${out}" "$@"
}

xd_train() {  # xd_train <trainer> [yacs opts]: train <trainer> on ImageNet, SHOTS shots
    local trainer=$1 dir
    shift
    dir=$(source_dir "${trainer}")
    skip_if_done "${dir}"
    train_py "${trainer}" imagenet "${dir}" DATASET.NUM_SHOTS ${SHOTS} "$@"
}

xd_test() {  # xd_test <trainer> [yacs opts]: evaluate its ImageNet run on ${DATASET}
    local trainer=$1 dir
    shift
    dir=$(target_dir "${trainer}" "${DATASET}")
    skip_if_done "${dir}"
    train_py "${trainer}" "${DATASET}" "${dir}" --model-dir "$(source_dir "${trainer}")" \
        --load-epoch ${EPOCH} --eval-only "$@"
}
