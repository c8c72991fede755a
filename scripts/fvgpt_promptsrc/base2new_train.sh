#!/bin/bash
# FVG-PT on the frozen PromptSRC run of the same data set and seed (run scripts/promptsrc first).
# Masks are read from <root>/mask/<image path relative to <root>>, <root> = ${DATA} or, with
# DATA_LAYOUT=fvgpt, the data set's own parent folder (see masks/README.md).
#   DATA=/path/to/datasets bash scripts/fvgpt_promptsrc/base2new_train.sh oxford_pets 1 [yacs options]
source "$(dirname "$0")/../common.sh" base2new train FVGPT_PromptSRC "$@"
