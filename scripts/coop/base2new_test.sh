#!/bin/bash
# CoOp evaluated on the new classes from its base-class run.
#   DATA=/path/to/datasets bash scripts/coop/base2new_test.sh oxford_pets 1 [yacs options]
source "$(dirname "$0")/../common.sh" base2new test CoOp "$@"
