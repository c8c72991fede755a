"""The main job: zero-shot CLIP and each backbone (CoOp, KgCoOp, PromptSRC, MMRL) alone and
with FVG-PT on top, base-to-new on FG-World, seeds 1-3.

First the regime checks (a)-(d) of ``scripts/world_regime.py`` on the val split, without
FVG-PT (is FG-World in the regime the paper targets?); then every run on the test split.
Every run is a plain ``train.py`` call (as in the bash sweeps under scripts/), its
log in ``<output>/<method>/<base|new>/seed<S>/log.txt``; a run is done when its
``result.json`` exists, so an interrupted job picks up where it stopped (an
interrupted training run resumes from its last epoch). While a run trains, a status
line shows its epoch and batch and an estimate of the time left for the whole job. The table (base / new / HM,
mean ± std over seeds, and the foreground shift index D_fg on the base test set) is
printed and written as ``results.csv`` and ``results.md`` in ``<output>``, D_fg per method
as ``d_fg.png``, and a verdict computed from the numbers (which method wins HM, by how much,
beyond the seed spread or not) is printed and written as ``verdict.txt``.

    python scripts/world_benchmark.py [--root data] [--output output/world_benchmark]
        [--seeds 1 2 3] [--backbones CoOp KgCoOp PromptSRC MMRL]
"""
import argparse
import os
import re
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from fvgpt.results import (RunNotFinished, d_fg_plot, read_run, summarise, verdict,  # noqa: E402
                           write_table)
from fvgpt.world.generate import ensure_world  # noqa: E402

DATASET_CONFIG = "configs/datasets/fg_world.yaml"
BACKBONES = ("CoOp", "KgCoOp", "PromptSRC", "MMRL")  # each also gets a FVGPT_<backbone> row
LABELS = {"ZeroshotCLIP": "CLIP (zero-shot)", **{b: b for b in BACKBONES},
          **{f"FVGPT_{b}": f"{b} + FVG-PT" for b in BACKBONES}}
EPOCHS = 10  # configs/trainers/*/world.yaml
SHIFT_INDEX = ["TEST.FOREGROUND_SHIFT_INDEX", "True"]  # D_fg of every base run
BATCH_LINE = re.compile(r"^epoch \[(\d+)/(\d+)\] batch \[(\d+)/(\d+)\]")


def add_run_arguments(parser, output_help):
    """The options the scripts built on the main job's runs share (world_regime, world_diagnosis)."""
    parser.add_argument("--root", default=os.path.join(REPO, "data"), help="data folder")
    parser.add_argument("--output", default=os.path.join(REPO, "output", "world_benchmark"),
                        help=output_help)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--fg-fill", choices=("black", "mean"), default="black")
    parser.add_argument("--opts", nargs="+", default=[],
                        help="config overrides for every run (e.g. OPTIM.MAX_EPOCH 1 for a smoke test)")


def resolve_run_arguments(args):
    """Absolute folders, and the epoch whose checkpoints the runs end with."""
    args.root, args.output = os.path.abspath(args.root), os.path.abspath(args.output)
    args.epochs = epochs_of(args.opts)
    return args


def epochs_of(opts):
    """OPTIM.MAX_EPOCH as set in a list of config overrides, else the world configs' EPOCHS."""
    return int(dict(zip(opts[::2], opts[1::2])).get("OPTIM.MAX_EPOCH", EPOCHS))


def run_cost(method, split):
    """Work of a run in units of one test pass (a training epoch counts as one)."""
    return 1 + (EPOCHS if method != "ZeroshotCLIP" and split == "base" else 0)


class Progress:
    """Work done and left over the whole job; estimates the time left from the pace so far."""

    def __init__(self, methods, seeds, splits=("base", "new")):
        self.left = sum(run_cost(m, s) for m in methods for s in splits) * len(seeds)
        self.done = 0.0
        self.start = time.time()

    def skip(self, method, split):
        self.left -= run_cost(method, split)

    def eta(self, in_run=0.0):
        done = self.done + in_run
        if done <= 0:
            return "estimating"
        left = (time.time() - self.start) / done * (self.left - in_run)
        return f"about {left / 60:.0f} min left" if left >= 90 else f"about {left:.0f} s left"

    def finish(self, method, split):
        self.done += run_cost(method, split)
        self.left -= run_cost(method, split)


def run_dir(output, method, split, seed):
    return os.path.join(output, method, split, f"seed{seed}")


def trainer_config(method):
    """A method's FG-World config file (zero-shot CLIP uses CoOp's)."""
    return "configs/trainers/CoOp/world.yaml" if method == "ZeroshotCLIP" else \
        f"configs/trainers/{method}/world.yaml"


def train_py(args, method, split, seed, extra, progress, eval_from=None, show_result=True):
    """One train.py run, skipped when finished (its result.json exists).

    ``show_result=False`` prints no accuracy (the regime checks train CoOp's base runs but
    look at the val split only).
    """
    out = run_dir(args.output, method, split, seed)
    try:
        result = read_run(out)
        shown = f"{result['accuracy']:.2f}%" if show_result else "trained"
        print(f"  {method:15s} {split:4s} seed {seed}: {shown} (done before)")
        progress.skip(method, split)
        return
    except RunNotFinished:
        pass
    cmd = [sys.executable, "-u", "train.py", "--root", args.root, "--seed", str(seed),
           "--trainer", method, "--dataset-config-file", DATASET_CONFIG,
           "--config-file", trainer_config(method), "--output-dir", out]
    if method == "ZeroshotCLIP" or eval_from:
        cmd += ["--eval-only"]
    if eval_from:
        cmd += ["--model-dir", eval_from, "--load-epoch", str(getattr(args, "epochs", EPOCHS))]
    cmd += ["DATASET.NUM_SHOTS", "16", "DATASET.SUBSAMPLE_CLASSES", split,
            "TRAINER.FVGPT.FG_FILL", args.fg_fill] + extra
    start = time.time()
    tail, last_epoch = [], None
    with subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as proc:
        for line in proc.stdout:
            tail = (tail + [line])[-60:]
            batch = BATCH_LINE.match(line)
            if not batch:
                continue
            epoch, epochs, b, batches = (int(v) for v in batch.groups())
            status = (f"  {method:15s} {split:4s} seed {seed}: epoch {epoch}/{epochs} batch "
                      f"{b}/{batches}, job: {progress.eta(epoch - 1 + b / batches)}")
            if sys.stdout.isatty():  # one status line, rewritten in place
                print(f"\r{status}   ", end="", flush=True)
            elif epoch != last_epoch:  # a log file: one line per epoch
                print(status, flush=True)
            last_epoch = epoch
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)}\nfailed:\n{''.join(tail)[-3000:]}")
    progress.finish(method, split)
    result = read_run(out)
    shift = "" if result["d_fg"] is None else f", D_fg {result['d_fg']:.4f}"
    shown = f"{result['accuracy']:.2f}%{shift}" if show_result else "trained"
    print(f"\r  {method:15s} {split:4s} seed {seed}: {shown} "
          f"({time.time() - start:.0f}s; job: {progress.eta()})" + " " * 20, flush=True)


def run_seed(args, seed, progress):
    shift = SHIFT_INDEX
    train_py(args, "ZeroshotCLIP", "base", seed, shift, progress)
    train_py(args, "ZeroshotCLIP", "new", seed, [], progress)
    for backbone in args.backbones:
        backbone_base = run_dir(args.output, backbone, "base", seed)
        fvgpt_base = run_dir(args.output, f"FVGPT_{backbone}", "base", seed)
        on_backbone = ["TRAINER.FVGPT.BACKBONE_DIR", backbone_base]
        train_py(args, backbone, "base", seed, shift, progress)
        train_py(args, backbone, "new", seed, [], progress, eval_from=backbone_base)
        train_py(args, f"FVGPT_{backbone}", "base", seed, on_backbone + shift, progress)
        train_py(args, f"FVGPT_{backbone}", "new", seed, on_backbone, progress, eval_from=fvgpt_base)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=os.path.join(REPO, "data"), help="data folder")
    parser.add_argument("--output", default=os.path.join(REPO, "output", "world_benchmark"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    # black: the tiny CLIP was pre-trained with 30 % of its scenes on black (fvgpt/world/README.md),
    # so black-filled foreground views are the familiar ones; the library default is mean.
    parser.add_argument("--fg-fill", choices=("black", "mean"), default="black",
                        help="TRAINER.FVGPT.FG_FILL of every run (also D_fg's foreground view)")
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES), choices=BACKBONES)
    args = parser.parse_args()
    args.root, args.output = os.path.abspath(args.root), os.path.abspath(args.output)
    args.epochs = EPOCHS

    start = time.time()
    ensure_world(args.root)
    methods = ["ZeroshotCLIP"] + [m for b in args.backbones for m in (b, f"FVGPT_{b}")]
    progress = Progress(methods, args.seeds)
    print("[regime checks: zero-shot CLIP and CoOp on the val split, no FVG-PT]", flush=True)
    import world_regime  # scripts/; it imports this module
    checks = world_regime.check_regime(args, progress)
    for i, seed in enumerate(args.seeds, 1):
        print(f"[seed {seed}: {i}/{len(args.seeds)}, {time.time() - start:.0f}s elapsed]", flush=True)
        run_seed(args, seed, progress)

    per_seed = {}
    for method in methods:
        per_seed[LABELS[method]] = [
            {"base": read_run(run_dir(args.output, method, "base", s))["accuracy"],
             "new": read_run(run_dir(args.output, method, "new", s))["accuracy"],
             "d_fg": read_run(run_dir(args.output, method, "base", s))["d_fg"]}
            for s in args.seeds]
    rows = summarise(per_seed)
    write_table(rows, args.output, "results",
                f"FG-World base-to-new, 16 shots, seeds {args.seeds} ({time.time() - start:.0f}s)")
    d_fg_plot(rows, os.path.join(args.output, "d_fg.png"), "FG-World: D_fg and base accuracy")
    print(f"D_fg plot: {args.output}/d_fg.png")
    lines = verdict(per_seed, [(LABELS[b], LABELS[f"FVGPT_{b}"]) for b in args.backbones])
    held = [name.split()[0] for name, ok, _ in checks if ok]
    lines.append(f"Regime checks holding on val: {len(held)} of {len(checks)} ({' '.join(held)}); "
                 f"details in {args.output}/regime.md.")
    with open(os.path.join(args.output, "verdict.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\nVerdict (computed from the numbers above):\n" + "\n".join(f"- {l}" for l in lines))


if __name__ == "__main__":
    main()
