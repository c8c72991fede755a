"""Datasets, transforms and loaders (mirrors ``dassl.data``)."""
from .data_manager import DataManager, DatasetWrapper

__all__ = ["DataManager", "DatasetWrapper"]
