"""Reading a data set's folders and annotation files, with errors that say what to fix.

Every reader goes through these helpers so that a missing folder, a missing or
malformed annotation file, or an image named by a split file but absent on disk
stops the run at start-up with the path at fault (instead of a bare
``AssertionError`` from Dassl's ``Datum`` or a crash in the data loader).
"""
import os
import random

from dassl.data.datasets import Datum
from dassl.utils import listdir_nohidden, read_json

LAYOUT_HINT = ("Lay the data set out as CoOp's DATASETS.md describes "
               "(github.com/KaiyangZhou/CoOp) and point --root at the folder that holds it.")


def dataset_folder(cfg, name):
    """``DATASET.ROOT/<name>`` as an absolute path; it must exist."""
    root = os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT))
    path = os.path.join(root, name)
    require_dir(path, f"data set folder '{name}' under DATASET.ROOT={root}")
    return path


def require_dir(path, what):
    """Raise ``FileNotFoundError`` naming ``what`` when ``path`` is not a folder."""
    if not os.path.isdir(path):
        raise FileNotFoundError(f"Missing {what}: {path} is not a folder. {LAYOUT_HINT}")


def require_file(path, what):
    """Raise ``FileNotFoundError`` naming ``what`` when ``path`` is not a file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Missing {what}: {path}. {LAYOUT_HINT}")


def read_lines(path, what):
    """Non-empty, stripped lines of a text annotation file."""
    require_file(path, what)
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def read_json_file(path, what):
    """Parsed JSON of an annotation file, with a clear error when it is not JSON."""
    require_file(path, what)
    try:
        return read_json(path)
    except ValueError as e:
        raise ValueError(f"{what} {path} is not valid JSON ({e}). Re-download it.") from None


def load_mat(path, what):
    """A MATLAB ``.mat`` annotation file as scipy's dict."""
    from scipy.io import loadmat

    require_file(path, what)
    try:
        return loadmat(path)
    except Exception as e:  # scipy raises several types for a damaged file
        raise ValueError(f"{what} {path} cannot be read as a .mat file ({e}). "
                         "Re-download it.") from None


def malformed_line(path, lineno, line, expected):
    """The error for a line of an annotation file that does not parse."""
    return ValueError(f"{path}, line {lineno}: expected {expected}, got {line!r}. "
                      "The file is damaged or not the one the data set ships.")


def class_folders(image_dir, what):
    """Sorted names of the non-hidden sub-folders of ``image_dir``."""
    require_dir(image_dir, what)
    return sorted(d for d in listdir_nohidden(image_dir)
                  if os.path.isdir(os.path.join(image_dir, d)))


def image_files(folder):
    """Sorted paths of the non-hidden files in ``folder`` (sorted: same order on every file system)."""
    with os.scandir(folder) as entries:
        return sorted(e.path for e in entries if e.is_file() and not e.name.startswith("."))


def check_images_exist(impaths, listed_in):
    """Raise ``FileNotFoundError`` when an image that ``listed_in`` names is not on disk.

    A whole missing folder (usually a class folder) is named as such; otherwise up
    to five missing files are named.
    """
    folders = {}
    for impath in impaths:
        folders.setdefault(os.path.dirname(impath), []).append(impath)
    missing_folders = sorted(d for d in folders if not os.path.isdir(d))
    if missing_folders:
        raise FileNotFoundError(
            f"{len(missing_folders)} image folder(s) named in {listed_in} are missing, "
            f"e.g. {missing_folders[0]}. Restore the folder(s) or re-extract the data set. "
            f"{LAYOUT_HINT}"
        )
    missing = [p for paths in folders.values() for p in paths if not os.path.isfile(p)]
    if missing:
        shown = "\n  ".join(missing[:5])
        raise FileNotFoundError(
            f"{len(missing)} image(s) named in {listed_in} are missing, e.g.:\n  {shown}\n"
            "Restore them or re-extract the data set."
        )


def make_items(entries, listed_in):
    """``Datum`` objects from ``(impath, label, classname)`` after checking the images exist."""
    entries = list(entries)
    check_images_exist([impath for impath, _, _ in entries], listed_in)
    return [Datum(impath=impath, label=label, classname=classname)
            for impath, label, classname in entries]


def check_split_images(split_path, image_dir):
    """Check that every image the CoOp split file names exists under ``image_dir``.

    Entries that are not ``[path, label, classname]`` are skipped here:
    ``datasets.splits.read_split`` reports them.
    """
    try:
        split = read_json(split_path)
    except ValueError:
        split = None  # read_split reports invalid JSON with its own message
    if not isinstance(split, dict):
        return
    impaths = [os.path.join(image_dir, entry[0])
               for part in ("train", "val", "test")
               for entry in (split.get(part) or []) if isinstance(entry, list) and entry]
    check_images_exist(impaths, split_path)


def split_class_folders(image_dir, ignored=(), new_cnames=None):
    """Split each class folder of ``image_dir`` 50/20/30 into train/val/test.

    CoOp's rule (datasets/dtd.py, ``read_and_split_data``; also used for Caltech101,
    EuroSAT and Food101): classes are the sorted folder names minus ``ignored``,
    labelled in that order and renamed through ``new_cnames``.
    """
    categories = [c for c in class_folders(image_dir, "image folder") if c not in ignored]
    classes = []
    for label, category in enumerate(categories):
        category_dir = os.path.join(image_dir, category)
        classname = (new_cnames or {}).get(category, category)
        classes.append((label, classname, image_files(category_dir), f"Class folder {category_dir}"))
    return split_per_class(classes)


def split_per_class(classes, p_trn=0.5, p_val=0.2):
    """Shuffle each class and cut it into train/val/test by rounded fractions (CoOp).

    ``classes`` holds ``(label, classname, impaths, description)``; the description
    names the class in the error raised when it is too small to split.
    """
    train, val, test = [], [], []
    for label, classname, impaths, description in classes:
        impaths = list(impaths)
        random.shuffle(impaths)
        n_train = round(len(impaths) * p_trn)
        n_val = round(len(impaths) * p_val)
        if not (n_train > 0 and n_val > 0 and len(impaths) - n_train - n_val > 0):
            raise ValueError(f"{description} has {len(impaths)} image(s), too few to "
                             "split into train, val and test.")
        parts = (impaths[:n_train], impaths[n_train:n_train + n_val], impaths[n_train + n_val:])
        for split, paths in zip((train, val, test), parts):
            split.extend(Datum(impath=p, label=label, classname=classname) for p in paths)
    return train, val, test
