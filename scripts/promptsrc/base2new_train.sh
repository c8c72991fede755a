#!/bin/bash
# PromptSRC on the base classes (the backbone FVG-PT builds on), as the upstream PromptSRC scripts do.
#   DATA=/path/to/datasets bash scripts/promptsrc/base2new_train.sh oxford_pets 1 [yacs options]
source "$(dirname "$0")/../common.sh" base2new train PromptSRC "$@"
