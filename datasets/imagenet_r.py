"""ImageNet-R reader, test only (folder layout: CoOp DATASETS.md, "ImageNet-R")."""
from dassl.data.datasets import DATASET_REGISTRY

from .imagenet import WnidFolderTestSet


@DATASET_REGISTRY.register()
class ImageNetR(WnidFolderTestSet):
    """``imagenet-rendition/imagenet-r/<wnid>/``: 200 ImageNet classes, labelled 0..199 in folder order."""

    dataset_dir = "imagenet-rendition"
    image_subdir = "imagenet-r"
    all_classes = False
