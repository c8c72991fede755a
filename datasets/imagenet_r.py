"""ImageNet-R reader, test only (folder layout: CoOp DATASETS.md, "ImageNet-R")."""
import os

from dassl.data.datasets import DATASET_REGISTRY, DatasetBase

from .folders import dataset_folder
from .imagenet import read_classnames, read_wnid_folders


@DATASET_REGISTRY.register()
class ImageNetR(DatasetBase):
    """``imagenet-rendition/imagenet-r/<wnid>/``: 200 ImageNet classes, labelled 0..199 in folder order."""

    dataset_dir = "imagenet-rendition"

    def __init__(self, cfg):
        self.dataset_dir = dataset_folder(cfg, self.dataset_dir)
        self.image_dir = os.path.join(self.dataset_dir, "imagenet-r")
        classnames_file = os.path.join(self.dataset_dir, "classnames.txt")
        data = read_wnid_folders(self.image_dir, read_classnames(classnames_file), classnames_file,
                                 all_classes=False)
        super().__init__(train_x=data, test=data)
