"""Caltech101 reader (folder layout: CoOp DATASETS.md, "Caltech101")."""
from dassl.data.datasets import DATASET_REGISTRY

from .folders import split_class_folders
from .split_dataset import SplitFileDataset

# Class folders left out and class names changed: CoOp datasets/caltech101.py.
IGNORED = ("BACKGROUND_Google", "Faces_easy")
NEW_CNAMES = {
    "airplanes": "airplane",
    "Faces": "face",
    "Leopards": "leopard",
    "Motorbikes": "motorbike",
}


@DATASET_REGISTRY.register()
class Caltech101(SplitFileDataset):
    """100 object classes; ``caltech-101/{101_ObjectCategories, split_zhou_Caltech101.json}``."""

    dataset_dir = "caltech-101"
    image_subdir = "101_ObjectCategories"
    split_filename = "split_zhou_Caltech101.json"

    def read_annotations(self):
        return split_class_folders(self.image_dir, ignored=IGNORED, new_cnames=NEW_CNAMES)
