"""The main job: zero-shot CLIP, CoOp, MMRL and FVG-PT on each, base-to-new on FG-World, seeds 1-3.

Every run is a plain ``train.py`` call (as in the bash sweeps under scripts/), its
log in ``<output>/<method>/<base|new>/seed<S>/log.txt``. The table (base / new / HM,
mean ± std over seeds, and the foreground shift index D_fg on the base test set) is
printed and written as ``results.csv`` and ``results.md`` in ``<output>``.

    python scripts/world_benchmark.py [--root data] [--output output/world_benchmark]
"""
import argparse
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from fvgpt.results import read_run, summarise, to_csv, to_markdown  # noqa: E402
from fvgpt.world.generate import ensure_world  # noqa: E402

DATASET_CONFIG = "configs/datasets/fg_world.yaml"
BACKBONES = ("CoOp", "MMRL")  # each also gets a FVGPT_<backbone> row
METHODS = ("ZeroshotCLIP",) + tuple(m for b in BACKBONES for m in (b, f"FVGPT_{b}"))
LABELS = {"ZeroshotCLIP": "CLIP (zero-shot)", **{b: b for b in BACKBONES},
          **{f"FVGPT_{b}": f"{b} + FVG-PT" for b in BACKBONES}}
EPOCHS = 10  # configs/trainers/*/world.yaml


def run_dir(output, method, split, seed):
    return os.path.join(output, method, split, f"seed{seed}")


def train_py(args, method, split, seed, extra, eval_from=None):
    """One train.py run; skipped when its log already holds a result (resumable sweeps)."""
    out = run_dir(args.output, method, split, seed)
    try:
        result = read_run(out)
        print(f"  {method:14s} {split:4s} seed {seed}: {result['accuracy']:.2f}% (done before)")
        return
    except (FileNotFoundError, ValueError):
        pass
    config = "configs/trainers/CoOp/world.yaml" if method == "ZeroshotCLIP" else \
        f"configs/trainers/{method}/world.yaml"
    cmd = [sys.executable, "train.py", "--root", args.root, "--seed", str(seed),
           "--trainer", method, "--dataset-config-file", DATASET_CONFIG,
           "--config-file", config, "--output-dir", out]
    if method == "ZeroshotCLIP" or eval_from:
        cmd += ["--eval-only"]
    if eval_from:
        cmd += ["--model-dir", eval_from, "--load-epoch", str(EPOCHS)]
    cmd += ["DATASET.NUM_SHOTS", "16", "DATASET.SUBSAMPLE_CLASSES", split] + extra
    start = time.time()
    done = subprocess.run(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)}\nfailed:\n{done.stderr[-3000:]}")
    result = read_run(out)
    shift = "" if result["d_fg"] is None else f", D_fg {result['d_fg']:.4f}"
    print(f"  {method:14s} {split:4s} seed {seed}: {result['accuracy']:.2f}%{shift} "
          f"({time.time() - start:.0f}s)", flush=True)


def run_seed(args, seed):
    shift = ["TEST.FOREGROUND_SHIFT_INDEX", "True"]
    train_py(args, "ZeroshotCLIP", "base", seed, shift)
    train_py(args, "ZeroshotCLIP", "new", seed, [])
    for name in BACKBONES:
        backbone_base = run_dir(args.output, name, "base", seed)
        fvgpt_base = run_dir(args.output, f"FVGPT_{name}", "base", seed)
        backbone = ["TRAINER.FVGPT.BACKBONE_DIR", backbone_base]
        train_py(args, name, "base", seed, shift)
        train_py(args, name, "new", seed, [], eval_from=backbone_base)
        train_py(args, f"FVGPT_{name}", "base", seed, backbone + shift)
        train_py(args, f"FVGPT_{name}", "new", seed, backbone, eval_from=fvgpt_base)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=os.path.join(REPO, "data"), help="data folder")
    parser.add_argument("--output", default=os.path.join(REPO, "output", "world_benchmark"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    args.root, args.output = os.path.abspath(args.root), os.path.abspath(args.output)

    start = time.time()
    ensure_world(args.root)
    for i, seed in enumerate(args.seeds, 1):
        print(f"[seed {seed}: {i}/{len(args.seeds)}, {time.time() - start:.0f}s elapsed]", flush=True)
        run_seed(args, seed)

    per_seed = {}
    for method in METHODS:
        per_seed[LABELS[method]] = [
            {"base": read_run(run_dir(args.output, method, "base", s))["accuracy"],
             "new": read_run(run_dir(args.output, method, "new", s))["accuracy"],
             "d_fg": read_run(run_dir(args.output, method, "base", s))["d_fg"]}
            for s in args.seeds]
    rows = summarise(per_seed)
    with open(os.path.join(args.output, "results.md"), "w") as f:
        f.write(to_markdown(rows))
    with open(os.path.join(args.output, "results.csv"), "w") as f:
        f.write(to_csv(rows))
    print(f"\nFG-World base-to-new, 16 shots, seeds {args.seeds} ({time.time() - start:.0f}s):\n")
    print(to_markdown(rows))
    print(f"Written to {args.output}/results.md and results.csv")


if __name__ == "__main__":
    main()
