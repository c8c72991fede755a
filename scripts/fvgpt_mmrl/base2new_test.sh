#!/bin/bash
# FVG-PT on the new classes: the prior-calibration branch z_PC (no masks needed).
#   DATA=/path/to/datasets bash scripts/fvgpt_mmrl/base2new_test.sh oxford_pets 1 [yacs options]
source "$(dirname "$0")/../common.sh" base2new test FVGPT_MMRL "$@"
