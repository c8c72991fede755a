"""EuroSAT reader (folder layout: CoOp DATASETS.md, "EuroSAT")."""
from dassl.data.datasets import DATASET_REGISTRY

from .folders import split_class_folders
from .split_dataset import SplitFileDataset

# Class names used in prompts: CoOp datasets/eurosat.py.
NEW_CNAMES = {
    "AnnualCrop": "Annual Crop Land",
    "Forest": "Forest",
    "HerbaceousVegetation": "Herbaceous Vegetation Land",
    "Highway": "Highway or Road",
    "Industrial": "Industrial Buildings",
    "Pasture": "Pasture Land",
    "PermanentCrop": "Permanent Crop Land",
    "Residential": "Residential Buildings",
    "River": "River",
    "SeaLake": "Sea or Lake",
}


@DATASET_REGISTRY.register()
class EuroSAT(SplitFileDataset):
    """10 land-use classes; ``eurosat/{2750/<class>/, split_zhou_EuroSAT.json}``."""

    dataset_dir = "eurosat"
    image_subdir = "2750"
    split_filename = "split_zhou_EuroSAT.json"

    def read_annotations(self):
        return split_class_folders(self.image_dir, new_cnames=NEW_CNAMES)
