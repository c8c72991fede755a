"""Food-101 reader (folder layout: CoOp DATASETS.md, "Food101")."""
from dassl.data.datasets import DATASET_REGISTRY

from .folders import split_class_folders
from .split_dataset import SplitFileDataset


@DATASET_REGISTRY.register()
class Food101(SplitFileDataset):
    """101 dishes; ``food-101/{images/<dish>/, split_zhou_Food101.json}``."""

    dataset_dir = "food-101"
    image_subdir = "images"
    split_filename = "split_zhou_Food101.json"

    def read_annotations(self):
        return split_class_folders(self.image_dir)
