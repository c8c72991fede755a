"""Write the FG-World benchmark to disk in CoOp's layout, with exact and degraded masks.

Layout under ``ROOT``::

    fg_world/images/<class_folder>/<split>_<n>.png    RGB images
    fg_world/split_zhou_FGWorld.json                  CoOp split file
    fg_world/world.json                               generation parameters (written last)
    mask/fg_world/images/<...>.png                    exact masks (255 = foreground)
    mask_{eroded,dilated,shifted,empty}/fg_world/...  degraded masks, same relative paths

Usage: ``python -m fvgpt.world.generate --root DATA [--seed 0] [--force]``.
"""
import argparse
import json
import os
import shutil
import sys
import time

import numpy as np
from PIL import Image

from datasets.splits import save_split
from dassl.data.datasets import Datum

from . import render
from .classes import (BACKGROUNDS, CHARACTERISTIC_BACKGROUND, CLASSNAMES, NUM_BASE,
                      P_CHARACTERISTIC, CLASS_PAIRS, folder_name)

WORLD_VERSION = 2
DATASET_DIR = "fg_world"
SPLIT_FILE = "split_zhou_FGWorld.json"
IMAGES_PER_CLASS = {"train": 40, "val": 10, "test": 30}
SPLIT_STREAM = {"train": 0, "val": 1, "test": 2}  # seed-sequence key of each split
DEGRADED_MASK_SETS = ("eroded", "dilated", "shifted", "empty")


def world_description(seed):
    """The content of ``world.json``: everything that determines the generated files."""
    return {
        "name": "FG-World",
        "version": WORLD_VERSION,
        "seed": seed,
        "image_size": render.IMAGE_SIZE,
        "images_per_class": IMAGES_PER_CLASS,
        "classnames": list(CLASSNAMES),
        "num_base": NUM_BASE,
        "backgrounds": list(BACKGROUNDS),
        "characteristic_background": {
            name: BACKGROUNDS[b] for name, b in zip(CLASSNAMES, CHARACTERISTIC_BACKGROUND)},
        "p_characteristic_train": P_CHARACTERISTIC,
        "style": f"sepia (strength {render.SEPIA_STRENGTH})",
        "mask_sets": ["mask"] + [f"mask_{k}" for k in DEGRADED_MASK_SETS],
    }


def sample_rng(seed, split, label, index):
    """The random generator of one benchmark image (independent of all others)."""
    return np.random.default_rng([seed, SPLIT_STREAM[split], label, index])


def benchmark_scene(seed, split, label, index):
    """Scene of image ``index`` of class ``label`` in ``split``; returns (scene, rng)."""
    rng = sample_rng(seed, split, label, index)
    characteristic = CHARACTERISTIC_BACKGROUND[label]
    if split == "train" and rng.random() < P_CHARACTERISTIC:
        background = characteristic
    elif split == "train":
        others = [b for b in range(len(BACKGROUNDS)) if b != characteristic]
        background = others[rng.integers(len(others))]
    else:
        background = int(rng.integers(len(BACKGROUNDS)))
    colour, shape = CLASS_PAIRS[label]
    return render.sample_scene(rng, colour, shape, background, sepia=True), rng


def relative_image_path(split, label, index):
    """Path of an image relative to ``ROOT/fg_world/images``."""
    return os.path.join(folder_name(CLASSNAMES[label]), f"{split}_{index:03d}.png")


def _save_png(array, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path, format="PNG")


def _generated_dirs(root):
    mask_roots = ["mask"] + [f"mask_{k}" for k in DEGRADED_MASK_SETS]
    return [os.path.join(root, DATASET_DIR)] + [os.path.join(root, m, DATASET_DIR)
                                                for m in mask_roots]


def generate_world(root, seed=0):
    """Generate the benchmark under ``root``, replacing any previous FG-World there."""
    root = os.path.abspath(os.path.expanduser(root))
    for d in _generated_dirs(root):
        shutil.rmtree(d, ignore_errors=True)
    image_dir = os.path.join(root, DATASET_DIR, "images")
    start = time.time()
    print(f"Generating FG-World v{WORLD_VERSION} (seed {seed}) in {root}", flush=True)
    splits = {}
    for split, per_class in IMAGES_PER_CLASS.items():
        items = []
        for label, classname in enumerate(CLASSNAMES):
            for index in range(per_class):
                scene, rng = benchmark_scene(seed, split, label, index)
                image, mask = render.render(scene)
                rel = os.path.join(DATASET_DIR, "images", relative_image_path(split, label, index))
                _save_png(image, os.path.join(root, rel))
                masks = {"mask": mask}
                masks.update({f"mask_{k}": m for k, m in render.degraded_masks(mask, rng).items()})
                for mask_root, m in masks.items():
                    _save_png(m.astype(np.uint8) * 255, os.path.join(root, mask_root, rel))
                items.append(Datum(impath=os.path.join(root, rel), label=label,
                                   classname=classname))
        splits[split] = items
        print(f"  {split}: {len(items)} images ({per_class} per class, "
              f"{time.time() - start:.1f}s)", flush=True)
    save_split(splits["train"], splits["val"], splits["test"],
               os.path.join(root, DATASET_DIR, SPLIT_FILE), image_dir)
    with open(os.path.join(root, DATASET_DIR, "world.json"), "w") as f:
        json.dump(world_description(seed), f, indent=2)
    print(f"FG-World done in {time.time() - start:.1f}s", flush=True)


def is_up_to_date(root, seed=0):
    """Whether ``root`` holds a complete FG-World generated with these parameters."""
    root = os.path.abspath(os.path.expanduser(root))
    try:
        with open(os.path.join(root, DATASET_DIR, "world.json")) as f:
            found = json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    return (found == world_description(seed)
            and os.path.isfile(os.path.join(root, DATASET_DIR, SPLIT_FILE)))


def ensure_world(root, seed=0):
    """Generate the FG-World under ``root`` unless an up-to-date one is already there."""
    if is_up_to_date(root, seed):
        return
    generate_world(root, seed)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", required=True, help="data root (DATASET.ROOT)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="regenerate even if up to date")
    args = parser.parse_args(argv)
    if args.force:
        generate_world(args.root, args.seed)
    elif is_up_to_date(args.root, args.seed):
        print(f"FG-World in {args.root} is up to date (seed {args.seed}).")
    else:
        generate_world(args.root, args.seed)


if __name__ == "__main__":
    sys.exit(main())
