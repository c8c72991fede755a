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
                         "Re-download it or delete it to have it rebuilt.") from None

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


def save_split(train, val, test, filepath, path_prefix):
    """Write a CoOp split file with image paths relative to ``path_prefix``."""
    def convert(items):
        return [[os.path.relpath(d.impath, path_prefix), d.label, d.classname]
                for d in items]

    with open(filepath, "w") as f:
        json.dump({"train": convert(train), "val": convert(val),
                   "test": convert(test)}, f, indent=4)


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
        return data["train"], data.get("val", val)  # CoOp's ImageNet caches hold "train" only
    train = reader.generate_fewshot_dataset(train, num_shots=num_shots)
    val = reader.generate_fewshot_dataset(val, num_shots=min(num_shots, 4))
    print(f"Saving preprocessed few-shot data to {cache}")
    with open(cache, "wb") as f:
        pickle.dump({"train": train, "val": val}, f, protocol=pickle.HIGHEST_PROTOCOL)
    return train, val
