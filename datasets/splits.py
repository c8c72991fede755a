"""Split-file, base/new and few-shot conventions shared by every dataset reader.

Formats follow the CoOp repository (KaiyangZhou/CoOp, datasets/oxford_pets.py and
DATASETS.md): a split file ``split_zhou_<Name>.json`` holds
``{"train"|"val"|"test": [[relative_impath, label, classname], ...]}``; few-shot
samples are cached in ``split_fewshot/shot_{K}-seed_{S}.pkl`` as
``{"train": [...], "val": [...]}``; base/new halving keeps the first
``ceil(n/2)`` labels as base and relabels the kept classes from 0.
"""
import json
import math
import os
import pickle
import random
from collections import defaultdict

from dassl.data.datasets import Datum
from dassl.utils import mkdir_if_missing

from fvgpt.split_files import save_split  # noqa: F401  (the readers' one split-file writer)


def read_split(filepath, path_prefix):
    """Read a CoOp split file; image paths are joined to ``path_prefix``."""
    try:
        with open(filepath) as f:
            split = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"Split file not found: {filepath}. Put the data set where CoOp's "
            "DATASETS.md says, or point --root at the folder that holds it."
        ) from None
    except json.JSONDecodeError as e:
        raise ValueError(f"Split file {filepath} is not valid JSON ({e}). "
                         "Re-download it (CoOp's DATASETS.md links each split file); FG-World's is "
                         "written again when it is moved aside.") from None

    def convert(items, name):
        out = []
        for entry in items:
            if not (isinstance(entry, (list, tuple)) and len(entry) == 3):
                raise ValueError(
                    f"Split file {filepath}: entry {entry!r} in '{name}' must be "
                    "[relative_image_path, label, classname]."
                )
            impath, label, classname = entry
            out.append(Datum(impath=os.path.join(path_prefix, impath),
                             label=int(label), classname=classname))
        return out

    missing = [k for k in ("train", "val", "test") if k not in split]
    if missing:
        raise ValueError(f"Split file {filepath} lacks the key(s) {missing}.")
    return tuple(convert(split[k], k) for k in ("train", "val", "test"))


def split_trainval(trainval, p_val=0.2):
    """Split per class into train and val, ``p_val`` of each class to val."""
    by_label = defaultdict(list)
    for item in trainval:
        by_label[item.label].append(item)
    train, val = [], []
    for label in sorted(by_label):
        items = by_label[label]
        random.shuffle(items)
        n_val = round(len(items) * p_val)
        assert n_val > 0, f"class {label} has too few images for a val split"
        val.extend(items[:n_val])
        train.extend(items[n_val:])
    return train, val


def subsample_classes(*splits, subsample="all"):
    """Keep the base (first half) or new (second half) classes, relabelled from 0."""
    if subsample not in ("all", "base", "new"):
        raise ValueError(f"DATASET.SUBSAMPLE_CLASSES must be all, base or new, got {subsample!r}")
    if subsample == "all":
        return splits
    labels = sorted({item.label for item in splits[0]})
    m = math.ceil(len(labels) / 2)
    selected = labels[:m] if subsample == "base" else labels[m:]
    relabel = {y: i for i, y in enumerate(selected)}
    return tuple(
        [Datum(impath=d.impath, label=relabel[d.label], classname=d.classname)
         for d in split if d.label in relabel]
        for split in splits
    )


def fewshot_train_val(reader, cfg, train, val, split_fewshot_dir):
    """Sample (or load the cached) ``NUM_SHOTS``-shot train/val for ``cfg.SEED``."""
    num_shots = cfg.DATASET.NUM_SHOTS
    if num_shots < 1:
        return train, val
    mkdir_if_missing(split_fewshot_dir)
    cache = os.path.join(split_fewshot_dir, f"shot_{num_shots}-seed_{cfg.SEED}.pkl")
    if os.path.exists(cache):
        print(f"Loading preprocessed few-shot data from {cache}")
        with open(cache, "rb") as f:
            data = pickle.load(f)
        dataset_dir = os.path.dirname(os.path.abspath(split_fewshot_dir))
        train = rebase_cached_items(data["train"], dataset_dir, cache)
        if "val" not in data:  # CoOp's ImageNet caches hold "train" only
            return train, val
        return train, rebase_cached_items(data["val"], dataset_dir, cache)
    train = reader.generate_fewshot_dataset(train, num_shots=num_shots)
    val = reader.generate_fewshot_dataset(val, num_shots=min(num_shots, 4))
    print(f"Saving preprocessed few-shot data to {cache}")
    with open(cache, "wb") as f:
        pickle.dump({"train": train, "val": val}, f, protocol=pickle.HIGHEST_PROTOCOL)
    return train, val


def rebase_cached_items(items, dataset_dir, cache):
    """Cached items with their absolute paths moved under ``dataset_dir``.

    A cache stores absolute image paths; when the data folder was copied or moved, they
    still point at the old place. Paths under ``dataset_dir`` are kept; others are
    rebased (the part after the last ``/<dataset folder>/``) when every rebased file
    exists, else the cache is refused with the file to delete. The file is not rewritten.
    """
    prefix = dataset_dir + os.sep
    if all(os.path.abspath(d.impath).startswith(prefix) for d in items):
        return items
    marker = os.sep + os.path.basename(dataset_dir) + os.sep
    rebased, missing = [], []
    for d in items:
        path = os.path.abspath(d.impath)
        if not path.startswith(prefix):
            cut = path.rfind(marker)
            path = prefix + path[cut + len(marker):] if cut >= 0 else None
        if path is None or not os.path.isfile(path):
            missing.append(d.impath)
            continue
        rebased.append(Datum(impath=path, label=d.label, domain=d.domain, classname=d.classname))
    if missing:
        raise FileNotFoundError(
            f"The few-shot cache {cache} lists images that are not under {dataset_dir} and have "
            f"no copy there ({len(missing)}, e.g. {missing[0]}): it was made for another data "
            f"folder. Delete {cache}; it is sampled again from the split file with the same "
            "seed (or give the --root it was made for).")
    print(f"Few-shot cache {cache} was made in another folder: its {len(items)} image paths "
          f"are read under {dataset_dir} (the file is left as it is)")
    return rebased
