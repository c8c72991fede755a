#!/bin/bash
# MMRL evaluated on the new classes from its base-class run.
#   DATA=/path/to/datasets bash scripts/mmrl/base2new_test.sh oxford_pets 1 [yacs options]
source "$(dirname "$0")/../common.sh" base2new test MMRL "$@"
