"""ImageNet-Sketch reader, test only (folder layout: CoOp DATASETS.md, "ImageNet-Sketch")."""
import os

from dassl.data.datasets import DATASET_REGISTRY, DatasetBase

from .folders import dataset_folder
from .imagenet import read_classnames, read_wnid_folders


@DATASET_REGISTRY.register()
class ImageNetSketch(DatasetBase):
    """``imagenet-sketch/images/<wnid>/`` for all 1000 classes of ``classnames.txt``."""

    dataset_dir = "imagenet-sketch"

    def __init__(self, cfg):
        self.dataset_dir = dataset_folder(cfg, self.dataset_dir)
        self.image_dir = os.path.join(self.dataset_dir, "images")
        classnames_file = os.path.join(self.dataset_dir, "classnames.txt")
        data = read_wnid_folders(self.image_dir, read_classnames(classnames_file), classnames_file)
        super().__init__(train_x=data, test=data)
