#!/bin/bash
# FVG-PT on the frozen MMRL run of the same data set and seed (run scripts/mmrl first).
# FVG-PT's config: vit_b16_ep10 (EuroSAT vit_b16_ep20), the paper's protocol; MMRL's own run
# uses vit_b16 (fvgpt/backbones/registry.py).
# Masks are read from <root>/mask/<image path relative to <root>>, <root> = ${DATA} or, with
# DATA_LAYOUT=fvgpt, the data set's own parent folder (see masks/README.md).
#   DATA=/path/to/datasets bash scripts/fvgpt_mmrl/base2new_train.sh oxford_pets 1 [yacs options]
source "$(dirname "$0")/../common.sh" base2new train FVGPT_MMRL "$@"
