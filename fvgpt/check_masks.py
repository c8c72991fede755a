"""Check the foreground masks of the training images a run would use.

    python -m fvgpt.check_masks --root DATA --dataset-config-file configs/datasets/oxford_pets.yaml \\
        [--import datasets.all] [--mask-root DIR] [--seed 1 --num-shots 16 --subsample base] \\
        [--mask-ext .png] [--threshold 0.5] [--missing-mask error|full] [--empty-mask error|keep]

Works on any data set registered in Dassl's DATASET_REGISTRY: ``--import MODULE`` (repeatable)
imports the modules that register your readers, as your train.py does (in the fvgpt
repository: ``--import datasets.all``; the current folder is on the import path). The data
set is read by the same reader and few-shot/base-new rules as a training run (without
--num-shots: every training image, which covers any few-shot sample). For each training
image the mask at ``<MASK_ROOT or ROOT/mask>/<image path relative to ROOT>`` is opened; the
report counts masks found, missing (naming a mask found with another extension: --mask-ext),
unreadable, not white foreground on black (with what was found and how to convert it), with
another aspect ratio than their image, resized to their image (normal for the released masks,
512 px on the short side) and empty (no pixel above the threshold), names the fix for each
kind of failure, and gives the foreground-area quartiles and the encodings read
(docs/masks.md). Exit status: 0 when training would start, 1 when it would stop on
a mask or an image, 2 when the data set itself cannot be read.
"""
import argparse
import importlib
import os
import sys

import numpy as np

from dassl.config import get_cfg_default  # importable once the fvgpt package is (its __init__)
from dassl.data.datasets import DATASET_REGISTRY
from dassl.utils import set_random_seed

from .config import add_config
from .masks import CHECKER, EMPTY_MASK_POLICIES, FIXES, MISSING_MASK_POLICIES, MaskError, audit_masks


def check_training_masks(dataset, root, mask_root="", threshold=0.5, mask_ext=""):
    """A ``MaskReport`` for the masks of ``dataset.train_x``."""
    return audit_masks([item.impath for item in dataset.train_x], root, mask_root, threshold,
                       mask_ext)


def format_report(report, dataset_name, missing_mask="error", empty_mask="error", max_listed=10):
    """The report as text; at most ``max_listed`` paths per kind of problem."""
    lines = [
        f"Data set {dataset_name}: {report.n_images} training image(s)",
        f"Mask folder: {report.mask_root}",
        f"Masks found: {report.n_found}/{report.n_images}",
    ]

    failing = report.failures(missing_mask, empty_mask)

    def section(title, kind, entries):
        lines.append(f"{title}: {len(entries)}")
        for entry in entries[:max_listed]:
            lines.append("  " + (entry if isinstance(entry, str) else f"{entry[0]}\n    {entry[1]}"))
        if len(entries) > max_listed:
            lines.append(f"  ... and {len(entries) - max_listed} more")
        if kind in failing:
            lines.append(f"  fix: {FIXES[kind]}")

    section("Missing masks", "missing", report.missing)
    if report.other_extension:
        section("Masks found only with another extension", "extension", report.other_extension)
    section("Unreadable masks", "unreadable", report.unreadable)
    section("Masks not white foreground on black", "encoding", report.wrong_encoding)
    section("Masks with another aspect ratio than their image", "aspect", report.wrong_aspect)
    section("Unreadable images", "image", report.unreadable_images)
    section(f"Empty masks (no pixel above {report.threshold})", "empty", report.empty)
    lines.append(f"Masks resized to their image (same aspect ratio): {len(report.resized)}")
    lines.append("Mask encodings read: " + (", ".join(f"{encoding} {n}" for encoding, n in
                                                       sorted(report.encodings.items())) or "none"))
    if report.areas:
        q = np.percentile(report.areas, [0, 25, 50, 75, 100])
        lines.append("Foreground area (fraction of the image): "
                     f"min {q[0]:.3f}, q1 {q[1]:.3f}, median {q[2]:.3f}, q3 {q[3]:.3f}, max {q[4]:.3f}")
    problems = report.problems(missing_mask, empty_mask)
    if problems:
        lines.append("FAIL: a training run would stop on " + ", ".join(problems) + ".")
    else:
        lines.append("OK: every training image has a usable mask "
                     f"(MISSING_MASK={missing_mask}, EMPTY_MASK={empty_mask}).")
    return "\n".join(lines)


def dataset_cfg(args):
    """The data part of a run's config: Dassl defaults, fvgpt's keys (CoOp's SUBSAMPLE_CLASSES
    among them), the YAML file."""
    cfg = add_config(get_cfg_default())
    cfg.merge_from_file(args.dataset_config_file)
    cfg.DATASET.ROOT = args.root
    cfg.DATASET.NUM_SHOTS = args.num_shots
    cfg.DATASET.SUBSAMPLE_CLASSES = args.subsample
    cfg.SEED = args.seed
    return cfg


def add_dataset_arguments(parser):
    """The options naming a Dassl-registered data set (shared with ``fvgpt.make_masks``)."""
    parser.add_argument("--root", required=True, help="DATASET.ROOT, as given to train.py")
    parser.add_argument("--dataset-config-file", required=True,
                        help="e.g. configs/datasets/oxford_pets.yaml")
    parser.add_argument("--import", dest="imports", action="append", default=[],
                        metavar="MODULE", help="module that registers the data set's reader "
                        "(repeatable), e.g. datasets.all")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog=CHECKER, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_arguments(parser)
    parser.add_argument("--mask-root", default="",
                        help="TRAINER.FVGPT.MASK_ROOT (default: ROOT/mask)")
    parser.add_argument("--mask-ext", default="",
                        help="TRAINER.FVGPT.MASK_EXT, e.g. .png (default: the image's extension)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--num-shots", type=int, default=-1,
                        help="DATASET.NUM_SHOTS (default -1: every training image)")
    parser.add_argument("--subsample", choices=("all", "base", "new"), default="all",
                        help="DATASET.SUBSAMPLE_CLASSES")
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="TRAINER.FVGPT.MASK_THRESHOLD")
    parser.add_argument("--missing-mask", choices=MISSING_MASK_POLICIES, default="error",
                        help="TRAINER.FVGPT.MISSING_MASK")
    parser.add_argument("--empty-mask", choices=EMPTY_MASK_POLICIES, default="error",
                        help="TRAINER.FVGPT.EMPTY_MASK")
    parser.add_argument("--max-listed", type=int, default=10,
                        help="paths listed per kind of problem")
    return parser.parse_args(argv)


def main(argv=None):
    """Run the check; return the exit status."""
    args = parse_args(argv)
    for module in args.imports:
        importlib.import_module(module)
    cfg = dataset_cfg(args)
    if cfg.DATASET.NAME not in DATASET_REGISTRY.registered_names():
        print(f"Cannot check the masks: data set {cfg.DATASET.NAME!r} is not registered in "
              "Dassl's DATASET_REGISTRY. Pass --import <module> for the module(s) your train.py "
              "imports to register its readers (in the fvgpt repository: --import datasets.all).",
              file=sys.stderr)
        return 2
    set_random_seed(cfg.SEED)  # as train.py does before building the data set
    try:
        dataset = DATASET_REGISTRY.get(cfg.DATASET.NAME)(cfg)
        report = check_training_masks(dataset, os.path.expanduser(args.root),
                                      os.path.expanduser(args.mask_root), args.threshold,
                                      args.mask_ext)
    except (OSError, ValueError, KeyError, MaskError) as e:
        print(f"Cannot check the masks: {e}", file=sys.stderr)
        return 2
    print(format_report(report, cfg.DATASET.NAME, args.missing_mask, args.empty_mask,
                        args.max_listed))
    return 1 if report.problems(args.missing_mask, args.empty_mask) else 0


if __name__ == "__main__":
    sys.exit(main())
