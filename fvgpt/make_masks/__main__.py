"""Make the foreground mask of every image of a data set (``python -m fvgpt.make_masks -h``).

Every image of the data set (train, val and test splits, all classes) gets a mask at
``<MASK_ROOT or ROOT/mask>/<image path relative to ROOT>``: an 8-bit PNG (whatever the file
name's extension), the image's size, 255 on foreground and 0 elsewhere. Images that have a
mask are skipped, so a killed run resumes with the same command. A record of the masks it
wrote (``<mask root>/make_masks/<DATASET.NAME>.jsonl``) keeps it from ever replacing a mask it
did not write; a report per class (images, mean foreground area, empty masks) is written
next to it (``.report.md``). ``--import MODULE`` registers your readers, as for
``python -m fvgpt.check_masks``. Exit status: 0 when every image has its mask, 1 when some
images cannot be read, 2 when nothing could be done (the message says why).
"""
import argparse
import importlib
import os
import sys
from types import SimpleNamespace

from dassl.data.datasets import DATASET_REGISTRY  # importable once the fvgpt package is

from ..check_masks import add_dataset_arguments, dataset_cfg
from ..masks import MaskError
from .command import Command
from .make import make_masks
from .methods import GrabCut, MakeMasksError
from .prompts import default_prompt
from .records import RecordError

PROGRAM = "python -m fvgpt.make_masks"


def method_classes():
    """{name: class} of the built-in methods (DenseCLIP, which needs torch, imported on use)."""
    from .dense_clip import DenseCLIP
    return {m.name: m for m in (GrabCut, DenseCLIP, Command)}


def parse_args(argv):
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_arguments(parser)
    parser.add_argument("--mask-root", default="",
                        help="where to write the masks, as TRAINER.FVGPT.MASK_ROOT (default: ROOT/mask)")
    classes = method_classes()
    parser.add_argument("--method", choices=list(classes), default="grabcut")
    parser.add_argument("--prompt", default="",
                        help="text prompt template, {} = class name (default: the data set's "
                             "prompt of paper Table 9, else 'a photo of a {}.')")
    parser.add_argument("--replace", action="store_true",
                        help="rewrite the masks make_masks wrote here with other settings")
    parser.add_argument("--batch-size", type=int, default=0,
                        help="images per call of the method (default: the method's)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--opts", nargs="+", default=[], metavar="KEY VALUE",
                        help="config overrides for the data set, e.g. DATASET.NAME MyData")
    for method in classes.values():
        method.add_arguments(parser)
    return parser.parse_args(argv)


def read_dataset(args):
    """(DATASET.NAME, [(image path, class name)] of every image, each once)."""
    for module in args.imports:
        importlib.import_module(module)
    cfg = dataset_cfg(SimpleNamespace(dataset_config_file=args.dataset_config_file, root=args.root,
                                      num_shots=-1, subsample="all", seed=1))
    cfg.merge_from_list(args.opts)
    if cfg.DATASET.NAME not in DATASET_REGISTRY.registered_names():
        raise MakeMasksError(
            f"Data set {cfg.DATASET.NAME!r} is not registered in Dassl's DATASET_REGISTRY. Pass "
            "--import <module> for the module(s) your train.py imports to register its readers "
            "(in the fvgpt repository: --import datasets.all).")
    dataset = DATASET_REGISTRY.get(cfg.DATASET.NAME)(cfg)
    images = {}
    for split in (dataset.train_x, dataset.val, dataset.test):
        for item in split or ():
            images.setdefault(item.impath, item.classname)
    return cfg.DATASET.NAME, list(images.items())


def main(argv=None):
    """Make the masks; return the exit status."""
    args = parse_args(argv)
    root = os.path.abspath(os.path.expanduser(args.root))
    mask_root = os.path.abspath(os.path.expanduser(args.mask_root or os.path.join(root, "mask")))
    try:
        name, images = read_dataset(args)
        method = method_classes()[args.method].from_args(args)
        prompt = args.prompt or default_prompt(name)
        print(f"{PROGRAM}: {len(images)} images of {name}, masks in {mask_root}, method "
              f"{method.name} {method.settings()}" + (f", prompt {prompt!r}" if method.uses_prompt
                                                       else ""), flush=True)
        summary = make_masks(images, root, mask_root, method, prompt, name, args.replace,
                             show_progress=not args.no_progress)
    except (MakeMasksError, MaskError, RecordError, OSError, ValueError, KeyError) as e:
        print(f"{PROGRAM}: {e}", file=sys.stderr)
        return 2
    print(f"Written {summary.written}, made before {summary.made_before}, kept (not written by "
          f"make_masks) {len(summary.foreign)}, unreadable images {len(summary.unreadable_images)}"
          f". Report: {summary.report_path}")
    for impath, reason in summary.unreadable_images[:10]:
        print(f"  cannot read image {impath}: {reason}", file=sys.stderr)
    return 1 if summary.unreadable_images else 0


if __name__ == "__main__":
    sys.exit(main())
