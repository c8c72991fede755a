#!/bin/bash
# The paper's base-to-new protocol for CoOp and CoOp + FVG-PT: 11 data sets x seeds 1-3.
#   DATA=/path/to/datasets bash scripts/base2new_sweep.sh [dataset ...]
# Then: python scripts/parse_results.py output/base2new
set -euo pipefail
DATASETS=("$@")
if [ ${#DATASETS[@]} -eq 0 ]; then
    DATASETS=(imagenet caltech101 oxford_pets stanford_cars oxford_flowers food101
              fgvc_aircraft sun397 dtd eurosat ucf101)
fi
for DATASET in "${DATASETS[@]}"; do
    for SEED in 1 2 3; do
        bash scripts/coop/base2new_train.sh "${DATASET}" "${SEED}"
        bash scripts/coop/base2new_test.sh "${DATASET}" "${SEED}"
        bash scripts/fvgpt_coop/base2new_train.sh "${DATASET}" "${SEED}"
        bash scripts/fvgpt_coop/base2new_test.sh "${DATASET}" "${SEED}"
    done
done
