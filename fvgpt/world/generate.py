"""Write the FG-World benchmark to disk in CoOp's layout, with exact and degraded masks.

Layout under ``ROOT``::

    fg_world/images/<class_folder>/<split>_<n>.png    RGB images
    fg_world/split_zhou_FGWorld.json                  CoOp split file
    fg_world/segmenter_masks.json                     outcome of each image's mask (see below)
    fg_world/world.json                               generation parameters (written last)
    mask/fg_world/images/<...>.png                    the benchmark's masks (255 = foreground),
                                                      a simulated automatic segmenter's
    mask_exact/fg_world/...                           exact masks, same relative paths
    mask_{eroded,dilated,shifted,empty}/fg_world/...  degraded exact masks, same relative paths

Generation never deletes anything and touches only the files it generates: it writes
the ones that are missing, and refuses, naming them, when the folders above hold files
it would not write (other than the readers' few-shot caches) or generated files whose
content differs from what it would write (e.g. an edited mask).

Usage: ``python -m fvgpt.world.generate --root DATA [--seed 0] [--force]``.
"""
import argparse
import fnmatch
import json
import os
import sys
import time
from collections import namedtuple

import numpy as np
from PIL import Image


from ..checkpoints import atomic_write, atomic_write_text
from ..split_files import split_file_text
from . import render
from .classes import (BACKGROUNDS, CHARACTERISTIC_BACKGROUND, CLASSNAMES, NUM_BASE,
                      P_CHARACTERISTIC, CLASS_PAIRS, folder_name)

WORLD_VERSION = 3
DATASET_DIR = "fg_world"
SPLIT_FILE = "split_zhou_FGWorld.json"
SEGMENTER_FILE = "segmenter_masks.json"
IMAGES_PER_CLASS = {"train": 40, "val": 10, "test": 30}
SPLIT_STREAM = {"train": 0, "val": 1, "test": 2}  # seed-sequence key of each split
DEGRADED_MASK_SETS = ("eroded", "dilated", "shifted", "empty")
MASK_SETS = ("mask", "mask_exact") + tuple(f"mask_{k}" for k in DEGRADED_MASK_SETS)
READER_FILES = os.path.join(DATASET_DIR, "split_fewshot", "shot_*-seed_*.pkl")  # few-shot caches


SplitEntry = namedtuple("SplitEntry", "impath label classname")  # what a split file lists


class WorldFolderError(RuntimeError):
    """The FG-World folders hold files that generation would replace or did not write."""


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
        "style": f"sepia (strength {render.SEPIA_STRENGTH}, "
                 f"colour shift {render.SEPIA_COLOUR_SHIFT})",
        "mask_sets": list(MASK_SETS),
        "segmenter_outcomes": render.SEGMENTER_OUTCOMES,
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


def _generated_dirs(root):
    return [os.path.join(root, DATASET_DIR)] + [os.path.join(root, m, DATASET_DIR)
                                                for m in MASK_SETS]


def render_world(root, seed=0):
    """Every file of the FG-World under ``root``: {path: PNG pixels (array) or text}."""
    files, splits, outcomes = {}, {}, {}
    start = time.time()
    for split, per_class in IMAGES_PER_CLASS.items():
        items = []
        for label, classname in enumerate(CLASSNAMES):
            for index in range(per_class):
                scene, rng = benchmark_scene(seed, split, label, index)
                image, mask = render.render(scene)
                rel = os.path.join(DATASET_DIR, "images", relative_image_path(split, label, index))
                files[os.path.join(root, rel)] = image
                masks = {f"mask_{k}": m for k, m in render.degraded_masks(mask, rng).items()}
                outcome, masks["mask"] = render.segmenter_mask(mask, rng)
                masks["mask_exact"] = mask
                outcomes[relative_image_path(split, label, index)] = outcome
                for mask_root, m in masks.items():
                    files[os.path.join(root, mask_root, rel)] = m.astype(np.uint8) * 255
                items.append(SplitEntry(os.path.join(root, rel), label, classname))
        splits[split] = items
        print(f"  {split}: {len(items)} images ({per_class} per class, "
              f"{time.time() - start:.1f}s)", flush=True)
    image_dir = os.path.join(root, DATASET_DIR, "images")
    files[os.path.join(root, DATASET_DIR, SPLIT_FILE)] = split_file_text(
        splits["train"], splits["val"], splits["test"], image_dir)
    files[os.path.join(root, DATASET_DIR, SEGMENTER_FILE)] = json.dumps(outcomes, indent=0)
    files[os.path.join(root, DATASET_DIR, "world.json")] = json.dumps(world_description(seed),
                                                                      indent=2)
    return files


def _holds(path, content):
    """Whether the file at ``path`` holds ``content`` (text, or PNG pixels)."""
    try:
        if isinstance(content, str):
            with open(path) as f:
                return f.read() == content
        with Image.open(path) as img:
            return np.array_equal(np.asarray(img), content)
    except (OSError, ValueError, UnicodeDecodeError):
        return False


def conflicts(root, files):
    """Files generation must not touch: (not generated by it, generated but now different)."""
    foreign = []
    for folder in _generated_dirs(root):
        for dirpath, _, names in os.walk(folder):
            for name in names:
                path = os.path.join(dirpath, name)
                if path not in files and not fnmatch.fnmatch(os.path.relpath(path, root),
                                                             READER_FILES):
                    foreign.append(path)
    changed = [p for p, content in files.items() if os.path.exists(p) and not _holds(p, content)]
    return sorted(foreign), changed


def _write(path, content):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(content, str):
        atomic_write_text(path, content)
    else:
        atomic_write(path, lambda tmp: Image.fromarray(content).save(tmp, format="PNG"))


def generate_world(root, seed=0):
    """Write the benchmark under ``root``: every missing file, ``world.json`` last.

    Raises ``WorldFolderError`` (before writing anything) when the folders hold files it
    did not generate or generated files that were changed since.
    """
    root = os.path.abspath(os.path.expanduser(root))
    start = time.time()
    print(f"Generating FG-World v{WORLD_VERSION} (seed {seed}) in {root}", flush=True)
    files = render_world(root, seed)
    foreign, changed = conflicts(root, files)
    if foreign or changed:
        lines = [f"  {len(paths)} {what}, e.g. " + ", ".join(paths[:3])
                 for paths, what in ((foreign, "file(s) FG-World does not write"),
                                     (changed, "file(s) that differ from what FG-World writes "
                                               "(edited, damaged or from another version)"))
                 if paths]
        raise WorldFolderError(
            f"Not generating FG-World in {root}: its folders hold files it would not write "
            "or would replace:\n" + "\n".join(lines) + "\nNothing was changed. Move those "
            "files out of the FG-World folders (FG-World writes its own again), or use "
            "another --root for a fresh FG-World.")
    world_json = os.path.join(root, DATASET_DIR, "world.json")
    written = 0
    for path, content in files.items():
        if path != world_json and not os.path.exists(path):
            _write(path, content)
            written += 1
    _write(world_json, files[world_json])
    print(f"FG-World done in {time.time() - start:.1f}s ({written} files written)", flush=True)


def is_up_to_date(root, seed=0):
    """Whether ``root`` holds a complete FG-World generated with these parameters."""
    root = os.path.abspath(os.path.expanduser(root))
    try:
        with open(os.path.join(root, DATASET_DIR, "world.json")) as f:
            found = json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    try:
        with open(os.path.join(root, DATASET_DIR, SPLIT_FILE)) as f:
            split_readable = set(json.load(f)) >= set(IMAGES_PER_CLASS)
    except (OSError, ValueError, TypeError):
        split_readable = False
    return found == world_description(seed) and split_readable


def ensure_world(root, seed=0):
    """Generate the FG-World under ``root`` unless an up-to-date one is already there."""
    if is_up_to_date(root, seed):
        return
    generate_world(root, seed)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", required=True, help="data root (DATASET.ROOT)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true",
                        help="check every file and write the missing ones even if up to date")
    args = parser.parse_args(argv)
    if args.force:
        generate_world(args.root, args.seed)
    elif is_up_to_date(args.root, args.seed):
        print(f"FG-World in {args.root} is up to date (seed {args.seed}).")
    else:
        generate_world(args.root, args.seed)


if __name__ == "__main__":
    sys.exit(main())
