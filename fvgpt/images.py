"""Image read failures reported with the file and the fix, under either Dassl engine.

Dassl's data wrappers let PIL's error through (a truncated file does not even name
itself). ``ExplainImageErrors`` goes in front of any Dassl ``DatasetWrapper``: when an
item fails, it checks the item's image and, if the image is at fault, raises
``ImageReadError`` naming it; other failures pass unchanged. ``ExplainedImageLoaders``
builds a trainer's data loaders with such a wrapper.
"""
import os

from PIL import Image

from dassl.data import DataManager
from dassl.data.data_manager import DatasetWrapper


class ImageReadError(OSError):
    """An image of the data set is missing or cannot be decoded."""


def image_problem(path):
    """What is wrong with the image file at ``path`` (a message), or None if it reads."""
    if not os.path.isfile(path):
        return (f"Image not found: {path}. Restore it from the data set's archive (layout as in "
                "CoOp's DATASETS.md), or, if the data folder moved, pass its new place as --root.")
    try:
        with Image.open(path) as img:
            img.convert("RGB")
    except Exception as err:  # PIL raises several kinds for a damaged file
        return (f"Cannot read image {path}: it is damaged or not an image "
                f"({type(err).__name__}: {err}). Replace it with an intact copy from the data "
                "set's archive.")
    return None


class ExplainImageErrors:
    """Mixin for a Dassl dataset wrapper; see the module docstring."""

    def __getitem__(self, idx):
        try:
            return super().__getitem__(idx)
        except Exception:
            problem = image_problem(self.data_source[idx].impath)
            if problem is None:
                raise
            raise ImageReadError(problem) from None


class ImageDatasetWrapper(ExplainImageErrors, DatasetWrapper):
    """Dassl's DatasetWrapper with image errors explained."""


class ExplainedImageLoaders:
    """Mixin for a Dassl trainer: its data loaders are built with ``dataset_wrapper``, which a
    subclass may replace by another wrapper with image errors explained."""

    dataset_wrapper = ImageDatasetWrapper

    def build_data_loader(self):
        """Dassl's data loaders, built with ``self.dataset_wrapper``."""
        dm = DataManager(self.cfg, dataset_wrapper=self.dataset_wrapper)
        self.train_loader_x, self.train_loader_u = dm.train_loader_x, dm.train_loader_u
        self.val_loader, self.test_loader = dm.val_loader, dm.test_loader
        self.num_classes, self.num_source_domains = dm.num_classes, dm.num_source_domains
        self.lab2cname, self.dm = dm.lab2cname, dm
