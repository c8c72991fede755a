"""ImageNet-Sketch reader, test only (folder layout: CoOp DATASETS.md, "ImageNet-Sketch")."""
from dassl.data.datasets import DATASET_REGISTRY

from .imagenet import WnidFolderTestSet


@DATASET_REGISTRY.register()
class ImageNetSketch(WnidFolderTestSet):
    """``imagenet-sketch/images/<wnid>/`` for all 1000 classes of ``classnames.txt``."""

    dataset_dir = "imagenet-sketch"
    image_subdir = "images"
