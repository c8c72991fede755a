# Shared by scripts/<trainer>/{base2new,xd}_{train,test}.sh (sourced, not run): one run of the
# planner (sweeps/plan.py), CoOp's way. It makes the same train.py call as
# `python -m sweeps.run` for that run: trainer, config, folder and options
# (tests/test_sweeps.py checks it for every backbone of fvgpt/backbones/registry.py).
#   source common.sh <base2new|xd> <train|test> <trainer> <the script's arguments>
# The script's arguments: base2new: <dataset> <seed>; xd train: <seed> (ImageNet, the source);
# xd test: <target dataset> <seed>; then yacs options for train.py.
# Environment: DATA (the data folder), OUTPUT (default output/<protocol>), CFG (one config
# name for the run and its backbone, as sweeps.run --config), D_FG=False (base2new: no D_fg,
# as --no-d-fg), REPLAY_CACHE (FVG-PT runs; "" = off, as --replay-cache).
# DATA_LAYOUT=coop (default): every data set under one ${DATA} (CoOp's DATASETS.md), --root ${DATA}.
# DATA_LAYOUT=fvgpt: the authors' download (JREion/FVG-PT docs/DATASETS.md), one parent folder
# per data set with mask/ beside the data set's folder; --root is that parent, as in their
# run_tuning.py (get_dataset_config).
set -euo pipefail
PROTOCOL=$1 STAGE=$2 TRAINER=$3
shift 3
DATA=${DATA:?set DATA to the folder holding the data sets}
if [ "${PROTOCOL}/${STAGE}" = xd/train ]; then
    DATASET=imagenet
else
    DATASET=${1:?give the data set (a file name under configs/datasets/, e.g. oxford_pets)}
    shift
fi
SEED=${1:?give the seed}
shift
BACKBONE=${TRAINER#FVGPT_}
SHOTS=16
OUTPUT=${OUTPUT:-output/${PROTOCOL}}
REPLAY_CACHE=${REPLAY_CACHE-$(dirname "${OUTPUT}")/replay_cache}
case "${PROTOCOL}" in
    base2new) SOURCE=${DATASET} TRAIN_STAGE=train_base TEST_STAGE=test_new TRAIN_CLASSES=base TEST_CLASSES=new ;;
    xd) SOURCE=imagenet TRAIN_STAGE=train TEST_STAGE=test TRAIN_CLASSES=all TEST_CLASSES=all ;;
    *) echo "protocol must be base2new or xd, got ${PROTOCOL}" >&2; exit 2 ;;
esac

config_name() {  # config_name <trainer>: CFG, else its record's choice (fvgpt/backbones/registry.py)
    if [ -n "${CFG:-}" ]; then echo "${CFG}"; return; fi
    case "${PROTOCOL}/$1/${SOURCE}" in
        base2new/MMRL/*) echo vit_b16 ;;
        base2new/*/eurosat) echo vit_b16_ep20 ;;  # paper Supp. 0.C, Table 15: EuroSAT 20 epochs
        base2new/*) echo vit_b16_ep10 ;;
        xd/MMRL/* | xd/FVGPT_MMRL/*) echo vit_b16_cross_datasets ;;
        xd/*) echo vit_b16_xd ;;
    esac
}

run_dir() {  # run_dir <stage> <dataset> <trainer>: the planner's folder of that run
    echo "${OUTPUT}/$1/$2/shots_${SHOTS}/$3/$(config_name "$3")/seed${SEED}"
}

data_root() {  # data_root <dataset>: --root of a run reading that data set
    case "${DATA_LAYOUT:-coop}" in
        coop) echo "${DATA}" ;;
        fvgpt)
            case "$1" in
                caltech101) echo "${DATA}/caltech-101" ;;
                dtd) echo "${DATA}/dtd/dtd" ;;
                fgvc_aircraft) echo "${DATA}/fgvc_aircraft/fgvc-aircraft-2013b" ;;
                oxford_flowers) echo "${DATA}/flowers-102" ;;
                sun397) echo "${DATA}/sun-397" ;;
                imagenet) echo "${DATA}/imagenet-1k" ;;
                eurosat | food101 | oxford_pets | stanford_cars | ucf101) echo "${DATA}/$1" ;;
                *) echo "DATA_LAYOUT=fvgpt has no folder for $1 (the authors release 11 data sets)" >&2
                   return 2 ;;
            esac ;;
        *) echo "DATA_LAYOUT must be coop or fvgpt, got ${DATA_LAYOUT}" >&2; return 2 ;;
    esac
}

TRAIN_DIR=$(run_dir "${TRAIN_STAGE}" "${SOURCE}" "${TRAINER}")
OPTS=()  # in the planner's order (sweeps/plan.py _chain, _method_runs)
if [ "${TRAINER}" != "${BACKBONE}" ]; then
    OPTS+=(TRAINER.FVGPT.BACKBONE_DIR "$(run_dir "${TRAIN_STAGE}" "${SOURCE}" "${BACKBONE}")")
fi
if [ "${PROTOCOL}/${BACKBONE}" = xd/MMRL ]; then
    OPTS+=(TASK CD)  # MMRL's CLS head for cross-dataset transfer (its record's protocol_opts)
fi
if [ "${STAGE}" = train ]; then
    DIR=${TRAIN_DIR} FLAGS=() CLASSES=${TRAIN_CLASSES}
    if [ "${TRAIN_CLASSES}" = base ] && [ "${D_FG:-True}" = True ]; then
        OPTS+=(TEST.FOREGROUND_SHIFT_INDEX True)  # D_fg on the base test set: needs its masks
    fi
else
    # No --load-epoch: train.py loads the best-validation checkpoint where the run saved one,
    # else its last epoch (the log names the file).
    DIR=$(run_dir "${TEST_STAGE}" "${DATASET}" "${TRAINER}")
    FLAGS=(--eval-only --model-dir "${TRAIN_DIR}") CLASSES=${TEST_CLASSES}
    if [ "${PROTOCOL}" = xd ] && [ "${TRAINER}" != "${BACKBONE}" ] && [ "${DATASET}" != imagenet ]; then
        OPTS+=(TRAINER.FVGPT.TEST_BRANCH pc)  # z_PC on a target; on ImageNet auto picks z_FDC
    fi
fi
if [ "${TRAINER}" != "${BACKBONE}" ] && [ -n "${REPLAY_CACHE}" ]; then
    OPTS+=(TRAINER.FVGPT.REPLAY_CACHE "${REPLAY_CACHE}")  # docs/replay.md
fi

if [ -f "${DIR}/result.json" ]; then  # the done marker, as for python -m sweeps.run
    echo "Results are available in ${DIR}/result.json, skipping"; exit 0
fi
ROOT=$(data_root "${DATASET}")
python train.py --root "${ROOT}" --seed "${SEED}" --trainer "${TRAINER}" \
    --dataset-config-file "configs/datasets/${DATASET}.yaml" \
    --config-file "configs/trainers/${TRAINER}/$(config_name "${TRAINER}").yaml" \
    --output-dir "${DIR}" "${FLAGS[@]}" DATASET.NUM_SHOTS ${SHOTS} DATASET.SUBSAMPLE_CLASSES ${CLASSES} \
    "${OPTS[@]}" "$@"
