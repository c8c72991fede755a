"""File, JSON, seeding, image and small list helpers."""
import difflib
import json
import os
import os.path as osp
import random
import warnings

import numpy as np
import PIL
import torch
from PIL import Image

__all__ = [
    "mkdir_if_missing",
    "check_isfile",
    "read_json",
    "write_json",
    "set_random_seed",
    "read_image",
    "collect_env_info",
    "listdir_nohidden",
    "get_most_similar_str_to_a_from_b",
    "check_availability",
    "tolist_if_not",
]


def mkdir_if_missing(dirname):
    """Create ``dirname`` (and parents) unless it exists."""
    if dirname:
        os.makedirs(dirname, exist_ok=True)


def check_isfile(fpath):
    """True if ``fpath`` is a file; warns (does not raise) otherwise."""
    isfile = osp.isfile(fpath)
    if not isfile:
        warnings.warn(f'No file found at "{fpath}"')
    return isfile


def read_json(fpath):
    with open(fpath, "r") as f:
        return json.load(f)


def write_json(obj, fpath):
    """Write ``obj`` as indented JSON (same layout as Dassl, so split files are identical)."""
    mkdir_if_missing(osp.dirname(fpath))
    with open(fpath, "w") as f:
        json.dump(obj, f, indent=4, separators=(",", ": "))


def set_random_seed(seed):
    """Seed python, numpy and torch (CPU and all GPUs)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def read_image(path):
    """Open an image as an RGB ``PIL.Image``; the error names the file when it cannot."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'Image file not found: "{path}"')
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (OSError, ValueError) as err:
        raise OSError(f'Cannot read image "{path}": {err}') from err


def collect_env_info():
    """Torch's environment report plus the Pillow version."""
    from torch.utils.collect_env import get_pretty_env_info

    return get_pretty_env_info() + f"\n        Pillow ({PIL.__version__})"


def listdir_nohidden(path, sort=False):
    """Directory entries that do not start with a dot."""
    items = [name for name in os.listdir(path) if not name.startswith(".")]
    if sort:
        items.sort()
    return items


def get_most_similar_str_to_a_from_b(a, b):
    """The string in ``b`` most similar to ``a`` (None when ``b`` is empty)."""
    return max(b, key=lambda cand: difflib.SequenceMatcher(None, a, cand).ratio(), default=None)


def check_availability(requested, available):
    """ValueError naming the available choices when ``requested`` is not among them."""
    if requested not in available:
        guess = get_most_similar_str_to_a_from_b(requested, available)
        raise ValueError(
            f"The requested one is expected to belong to {available}, "
            f"but got [{requested}] (do you mean [{guess}]?)"
        )


def tolist_if_not(x):
    """Wrap ``x`` in a list unless it already is one."""
    return x if isinstance(x, list) else [x]
