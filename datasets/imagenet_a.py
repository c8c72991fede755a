"""ImageNet-A reader, test only (folder layout: CoOp DATASETS.md, "ImageNet-A")."""
from dassl.data.datasets import DATASET_REGISTRY

from .imagenet import WnidFolderTestSet


@DATASET_REGISTRY.register()
class ImageNetA(WnidFolderTestSet):
    """``imagenet-adversarial/imagenet-a/<wnid>/``: 200 ImageNet classes, labelled 0..199 in folder order."""

    dataset_dir = "imagenet-adversarial"
    image_subdir = "imagenet-a"
    all_classes = False
