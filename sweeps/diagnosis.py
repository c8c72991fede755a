"""Where FVG-PT's base-class gain or loss comes from on FG-World: backgrounds or fit.

For each backbone and seed, the main job's base runs (trained if missing) are scored on two
base-class image sets: the **held-out training distribution** (the training images the
few-shot run did not use; 80 % show their class's characteristic background) and the
**test split** (uniform backgrounds). A model that reads backgrounds scores much higher on
the first; a head that learns them raises the first and lowers the second; a head that
fits worse lowers both. Also printed: each backbone's foreground view on test, with the
benchmark's (segmenter) masks and with exact masks, the views FVG-PT distils from.

    python scripts/world_diagnosis.py [--root data/world0] [--output output/world_benchmark/world0]
        [--seeds 1 2 3] [--backbones CoOp KgCoOp PromptSRC MMRL]
"""
import argparse
import contextlib
import io
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "scripts"))

import world_benchmark  # noqa: E402
import world_regime  # noqa: E402
from datasets.splits import read_split, subsample_classes  # noqa: E402
from fvgpt.results import mean_std  # noqa: E402
from fvgpt.world.generate import DATASET_DIR, SPLIT_FILE, ensure_world  # noqa: E402


def accuracy(logits, labels):
    return 100 * (logits.argmax(1) == labels).float().mean().item()


def load(args, method, seed, run, opts=()):
    """The finished base run of ``method`` (its last epoch), built quietly."""
    with contextlib.redirect_stdout(io.StringIO()):
        trainer = world_regime.build(method, "base", seed, args.root,
                                     [*args.opts, *opts, "TRAINER.FVGPT.FG_FILL", args.fg_fill])
        trainer.load_model(run, epoch=args.epochs)
    return trainer


def measure(args, backbone, seed, images, progress):
    """Accuracies of the backbone and of backbone + FVG-PT on one seed (base classes)."""
    base_run = world_benchmark.run_dir(args.output, backbone, "base", seed)
    fvgpt_run = world_benchmark.run_dir(args.output, f"FVGPT_{backbone}", "base", seed)
    on_backbone = ["TRAINER.FVGPT.BACKBONE_DIR", base_run]
    world_benchmark.train_py(args, backbone, "base", seed, world_benchmark.SHIFT_INDEX + args.opts,
                             progress)
    world_benchmark.train_py(args, f"FVGPT_{backbone}", "base", seed,
                             on_backbone + world_benchmark.SHIFT_INDEX + args.opts, progress)
    with open(os.path.join(base_run, "training_images.json")) as f:
        used = {path for path, _ in json.load(f)["images"]}
    held_out = [d for d in images["train"] if os.path.relpath(d.impath, args.root) not in used]
    row = {}
    for name, trainer in (("backbone", load(args, backbone, seed, base_run)),
                          ("fvgpt", load(args, f"FVGPT_{backbone}", seed, fvgpt_run, on_backbone))):
        for split, data in (("held_out", held_out), ("test", images["test"])):
            full, fg, labels, _ = world_regime.score_views(trainer, data, os.path.join(args.root, "mask"))
            row[f"{name} {split}"] = accuracy(full, labels)
            if name == "backbone" and split == "test":
                row["fg segmenter"] = accuracy(fg, labels)
                _, fg, labels, _ = world_regime.score_views(trainer, data,
                                                            os.path.join(args.root, "mask_exact"))
                row["fg exact"] = accuracy(fg, labels)
    return row


COLUMNS = (("backbone held_out", "backbone: held-out train"), ("backbone test", "backbone: test"),
           ("fvgpt held_out", "+ FVG-PT: held-out train"), ("fvgpt test", "+ FVG-PT: test"),
           ("fg segmenter", "backbone fg view, segmenter masks"), ("fg exact", "backbone fg view, exact masks"))


def to_markdown(rows, seeds):
    lines = [f"Base classes, seeds {seeds}, mean ± std; full images unless said.", "",
             "| backbone | " + " | ".join(title for _, title in COLUMNS) + " |",
             "|---" * (len(COLUMNS) + 1) + "|"]
    for backbone, per_seed in rows.items():
        cells = ["%.1f ± %.1f" % mean_std([r[key] for r in per_seed]) for key, _ in COLUMNS]
        lines.append(f"| {backbone} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    world_benchmark.add_run_arguments(parser, "the main job's output folder (its runs are used)")
    parser.add_argument("--backbones", nargs="+", default=list(world_benchmark.BACKBONES),
                        choices=world_benchmark.BACKBONES)
    args = world_benchmark.resolve_run_arguments(parser.parse_args(argv))
    ensure_world(args.root, args.world_seed)
    splits = read_split(os.path.join(args.root, DATASET_DIR, SPLIT_FILE),
                        os.path.join(args.root, DATASET_DIR, "images"))
    images = {name: subsample_classes(data, subsample="base")[0]
              for name, data in (("train", splits[0]), ("test", splits[2]))}
    progress = world_benchmark.Progress([], args.seeds)
    rows = {b: [measure(args, b, s, images, progress) for s in args.seeds] for b in args.backbones}
    table = to_markdown(rows, args.seeds)
    os.makedirs(args.output, exist_ok=True)
    with open(os.path.join(args.output, "diagnosis.md"), "w") as f:
        f.write(table)
    print(f"\n{table}\nWritten to {args.output}/diagnosis.md")
    return rows


if __name__ == "__main__":
    main()
