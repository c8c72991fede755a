"""Where FVG-PT's base-class gain or loss comes from on FG-World: backgrounds or fit.

For each backbone and seed, the main job's base runs (trained if missing) are scored on two
base-class image sets: the **held-out training distribution** (the training images the
few-shot run did not use; 80 % show their class's characteristic background) and the
**test split** (uniform backgrounds). A model that reads backgrounds scores much higher on
the first; a head that learns them raises the first and lowers the second; a head that
fits worse lowers both. Also measured: each backbone's foreground view on test, with the
benchmark's (segmenter) masks and with exact masks, the views FVG-PT distils from.
CLI: scripts/world_diagnosis.py.
"""
import contextlib
import io
import json
import os

from datasets.splits import read_split, subsample_classes
from fvgpt.results import mean_std
from fvgpt.world.generate import DATASET_DIR, SPLIT_FILE

from . import regime
from .plan import max_epoch, run_of
from .watch import Progress, run_watched


def accuracy(logits, labels):
    return 100 * (logits.argmax(1) == labels).float().mean().item()


def load(sweep, method, seed, run, opts=()):
    """The finished base run of ``method`` (its last epoch), built quietly."""
    with contextlib.redirect_stdout(io.StringIO()):
        trainer = regime.build(method, "base", seed, sweep.root,
                               [*sweep.opts, *opts, "TRAINER.FVGPT.FG_FILL", sweep.fg_fill])
        trainer.load_model(run, epoch=max_epoch(regime.world_config(method), sweep.opts))
    return trainer


def measure(sweep, backbone, seed, images, progress):
    """Accuracies of the backbone and of backbone + FVG-PT on one seed (base classes), from
    the base runs of a world's sweep (trained if missing)."""
    base_run, fvgpt_run = (run_of(sweep, trainer, "base", seed)
                           for trainer in (backbone, f"FVGPT_{backbone}"))
    for run in (base_run, fvgpt_run):
        run_watched(sweep, run, progress)
    base_dir, fvgpt_dir = base_run.out_dir(sweep), fvgpt_run.out_dir(sweep)
    on_backbone = ["TRAINER.FVGPT.BACKBONE_DIR", base_dir]
    with open(os.path.join(base_dir, "training_images.json")) as f:
        used = {path for path, _ in json.load(f)["images"]}
    held_out = [d for d in images["train"] if os.path.relpath(d.impath, sweep.root) not in used]
    row = {}
    for name, trainer in (("backbone", load(sweep, backbone, seed, base_dir)),
                          ("fvgpt", load(sweep, f"FVGPT_{backbone}", seed, fvgpt_dir, on_backbone))):
        for split, data in (("held_out", held_out), ("test", images["test"])):
            full, fg, labels, _ = regime.score_views(trainer, data, os.path.join(sweep.root, "mask"))
            row[f"{name} {split}"] = accuracy(full, labels)
            if name == "backbone" and split == "test":
                row["fg segmenter"] = accuracy(fg, labels)
                _, fg, labels, _ = regime.score_views(trainer, data,
                                                      os.path.join(sweep.root, "mask_exact"))
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


def diagnose(sweep):
    """Every backbone of a world's sweep on every seed: {backbone: [row per seed]}; the table
    is printed and written to ``diagnosis.md`` in the sweep's output."""
    splits = read_split(os.path.join(sweep.root, DATASET_DIR, SPLIT_FILE),
                        os.path.join(sweep.root, DATASET_DIR, "images"))
    images = {name: subsample_classes(data, subsample="base")[0]
              for name, data in (("train", splits[0]), ("test", splits[2]))}
    progress = Progress([], sweep.seeds)
    rows = {b: [measure(sweep, b, s, images, progress) for s in sweep.seeds] for b in sweep.backbones}
    table = to_markdown(rows, sweep.seeds)
    os.makedirs(sweep.output, exist_ok=True)
    with open(os.path.join(sweep.output, "diagnosis.md"), "w") as f:
        f.write(table)
    print(f"\n{table}\nWritten to {sweep.output}/diagnosis.md")
    return rows
