"""Describable Textures reader (folder layout: CoOp DATASETS.md, "DTD")."""
from dassl.data.datasets import DATASET_REGISTRY

from .folders import split_class_folders
from .split_dataset import SplitFileDataset


@DATASET_REGISTRY.register()
class DescribableTextures(SplitFileDataset):
    """47 textures; ``dtd/{images/<texture>/, split_zhou_DescribableTextures.json}``."""

    dataset_dir = "dtd"
    image_subdir = "images"
    split_filename = "split_zhou_DescribableTextures.json"

    def read_annotations(self):
        return split_class_folders(self.image_dir)
