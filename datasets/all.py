"""Import every reader so that its class is in Dassl's DATASET_REGISTRY: ``import datasets.all``."""
from . import (  # noqa: F401
    caltech101,
    dtd,
    eurosat,
    fg_world,
    fgvc_aircraft,
    food101,
    imagenet,
    imagenet_a,
    imagenet_r,
    imagenet_sketch,
    imagenetv2,
    oxford_flowers,
    oxford_pets,
    stanford_cars,
    sun397,
    ucf101,
)
