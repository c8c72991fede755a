#!/bin/bash
# KgCoOp on the base classes (the backbone FVG-PT builds on), as the upstream KgCoOp scripts do.
#   DATA=/path/to/datasets bash scripts/kgcoop/base2new_train.sh oxford_pets 1 [yacs options]
source "$(dirname "$0")/../common.sh" base2new train KgCoOp "$@"
