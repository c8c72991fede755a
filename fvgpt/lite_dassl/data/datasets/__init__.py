"""Dataset base classes and registry (mirrors ``dassl.data.datasets``; no bundled datasets)."""
from .base_dataset import DatasetBase, Datum
from .build import DATASET_REGISTRY, build_dataset

__all__ = ["DATASET_REGISTRY", "DatasetBase", "Datum", "build_dataset"]
