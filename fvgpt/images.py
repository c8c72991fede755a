"""Image read failures reported with the file and the fix, under either Dassl engine.

Dassl's data wrappers let PIL's error through (a truncated file does not even name
itself). ``ExplainImageErrors`` goes in front of any Dassl ``DatasetWrapper``: when an
item fails, it checks the item's image and, if the image is at fault, raises
``ImageReadError`` naming it; other failures (e.g. of masks) pass unchanged.
"""
import os

from PIL import Image

from dassl.data.data_manager import DatasetWrapper

from .masked_data import MaskedDatasetWrapper


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


class MaskedImageDatasetWrapper(ExplainImageErrors, MaskedDatasetWrapper):
    """fvgpt's MaskedDatasetWrapper with image errors explained."""
