#!/bin/bash
# CoOp on the base classes (the backbone FVG-PT builds on), CoOp-repository style.
#   DATA=/path/to/datasets bash scripts/coop/base2new_train.sh oxford_pets 1 [yacs options]
source "$(dirname "$0")/../common.sh" base2new train CoOp "$@"
