"""The main job: zero-shot CLIP and each backbone (CoOp, KgCoOp, PromptSRC, MMRL) alone and
with FVG-PT on top, base-to-new on FG-World, over several worlds x training seeds 1-3.

A world is FG-World generated with one generator seed (``--worlds``, default 0 1 2; world K
in ``<root>/world<K>``, its runs in ``<output>/world<K>``). For each world, first the regime
checks (a)-(d) of ``scripts/world_regime.py`` on the val split, without FVG-PT (is this
world in the regime the paper targets?); then every run on the test split. Every run is a
plain ``train.py`` call (as in the bash sweeps under scripts/), its log in
``<output>/world<K>/<method>/<base|new>/seed<S>/log.txt``; a run is done when its
``result.json`` exists, so an interrupted job picks up where it stopped (an interrupted
training run resumes from its last epoch). While a run trains, a status line shows its epoch
and batch and an estimate of the time left for the whole job.

At the end it prints and writes to ``<output>``: ``summary.json`` (every run's numbers),
``report.md`` (the table over worlds with the spread across worlds and across training seeds
kept apart, the regime checks per world, in how many worlds each of the paper's claims holds,
and a verdict whose "beyond the spread" uses the spread across worlds), ``per_world.md`` and
``d_fg.png``. ``--from-summary summary.json`` re-prints and re-draws them without running.

    python scripts/world_benchmark.py [--root data] [--output output/world_benchmark]
        [--worlds 0 1 2] [--seeds 1 2 3] [--backbones CoOp PromptSRC | --full]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from fvgpt.results import (RunNotFinished, d_fg_plot, held_out_check, paper_claims,  # noqa: E402
                           read_run, summarise, summarise_worlds, to_markdown, world_verdict,
                           worlds_to_markdown)
from fvgpt.world.generate import ensure_world  # noqa: E402

DATASET_CONFIG = "configs/datasets/fg_world.yaml"
BACKBONES = ("CoOp", "KgCoOp", "PromptSRC", "MMRL")  # each also gets a FVGPT_<backbone> row
DEFAULT_WORLDS = (0, 1, 2)
# What fits in about 15 minutes on 2 cores over three worlds (--full: all four backbones).
DEFAULT_BACKBONES = ("CoOp", "PromptSRC")
LABELS = {"ZeroshotCLIP": "CLIP (zero-shot)", **{b: b for b in BACKBONES},
          **{f"FVGPT_{b}": f"{b} + FVG-PT" for b in BACKBONES}}
EPOCHS = 10  # configs/trainers/*/world.yaml
SHIFT_INDEX = ["TEST.FOREGROUND_SHIFT_INDEX", "True"]  # D_fg of every base run
BATCH_LINE = re.compile(r"^epoch \[(\d+)/(\d+)\] batch \[(\d+)/(\d+)\]")


def add_run_arguments(parser, output_help):
    """The options the scripts built on the main job's runs share (world_regime, world_diagnosis)."""
    parser.add_argument("--root", default=os.path.join(REPO, "data", "world0"),
                        help="data folder of one world (the main job's world 0 by default)")
    parser.add_argument("--output", default=os.path.join(REPO, "output", "world_benchmark", "world0"),
                        help=output_help)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--fg-fill", choices=("black", "mean"), default="black")
    parser.add_argument("--world-seed", type=int, default=0,
                        help="FG-World generator seed of the world in --root (DATASET.WORLD_SEED)")
    parser.add_argument("--opts", nargs="+", default=[],
                        help="config overrides for every run (e.g. OPTIM.MAX_EPOCH 1 for a smoke test)")


def resolve_run_arguments(args):
    """Absolute folders, the world's seed among the runs' options, and the epoch whose
    checkpoints the runs end with."""
    args.root, args.output = os.path.abspath(args.root), os.path.abspath(args.output)
    args.opts = ["DATASET.WORLD_SEED", str(args.world_seed)] + args.opts
    args.epochs = epochs_of(args.opts)
    return args


def epochs_of(opts):
    """OPTIM.MAX_EPOCH as set in a list of config overrides, else the world configs' EPOCHS."""
    return int(dict(zip(opts[::2], opts[1::2])).get("OPTIM.MAX_EPOCH", EPOCHS))


def run_cost(method, split):
    """Work of a run in units of one test pass (a training epoch counts as one)."""
    return 1 + (EPOCHS if method != "ZeroshotCLIP" and split == "base" else 0)


REGIME_COST = 3  # work of one seed's regime scoring (8 val passes of a third of a test pass)


class Progress:
    """Work done and left over the whole job; estimates the time left from the pace so far.

    Each run (or regime scoring) is counted once, by its key, however often it is met:
    the regime checks and the table share CoOp's base runs.
    """

    def __init__(self, methods, seeds, splits=("base", "new"), worlds=1, regime=False):
        per_world = sum(run_cost(m, s) for m in methods for s in splits) + REGIME_COST * regime
        self.left = per_world * len(seeds) * worlds
        self.done = 0.0
        self.counted = set()
        self.start = time.time()

    def skip(self, key, cost):
        """A piece of work found done before: no longer left, and not done in this job."""
        if key not in self.counted:
            self.counted.add(key)
            self.left -= cost

    def finish(self, key, cost):
        if key not in self.counted:
            self.counted.add(key)
            self.done += cost
            self.left -= cost

    def eta(self, in_run=0.0):
        done = self.done + in_run
        if done <= 0:
            return "estimating"
        left = max(0.0, (time.time() - self.start) / done * (self.left - in_run))
        return f"about {left / 60:.0f} min left" if left >= 90 else f"about {left:.0f} s left"


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
        progress.skip(out, run_cost(method, split))
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
    progress.finish(out, run_cost(method, split))
    result = read_run(out)
    shift = "" if result["d_fg"] is None else f", D_fg {result['d_fg']:.4f}"
    shown = f"{result['accuracy']:.2f}%{shift}" if show_result else "trained"
    print(f"\r  {method:15s} {split:4s} seed {seed}: {shown} "
          f"({time.time() - start:.0f}s; job: {progress.eta()})" + " " * 20, flush=True)


def run_seed(args, seed, progress):
    shift = SHIFT_INDEX + args.opts
    train_py(args, "ZeroshotCLIP", "base", seed, shift, progress)
    train_py(args, "ZeroshotCLIP", "new", seed, args.opts, progress)
    for backbone in args.backbones:
        backbone_base = run_dir(args.output, backbone, "base", seed)
        fvgpt_base = run_dir(args.output, f"FVGPT_{backbone}", "base", seed)
        on_backbone = ["TRAINER.FVGPT.BACKBONE_DIR", backbone_base] + args.opts
        train_py(args, backbone, "base", seed, shift, progress)
        train_py(args, backbone, "new", seed, args.opts, progress, eval_from=backbone_base)
        train_py(args, f"FVGPT_{backbone}", "base", seed, on_backbone + SHIFT_INDEX, progress)
        train_py(args, f"FVGPT_{backbone}", "new", seed, on_backbone, progress, eval_from=fvgpt_base)


def world_arguments(args, world):
    """The arguments of one world: its own data and output folders and DATASET.WORLD_SEED."""
    return argparse.Namespace(**{**vars(args), "root": os.path.join(args.root, f"world{world}"),
                                 "output": os.path.join(args.output, f"world{world}"),
                                 "opts": ["DATASET.WORLD_SEED", str(world)]})


def run_world(args, world, progress):
    """Regime checks, then every run of one world; its part of the summary."""
    wargs = world_arguments(args, world)
    ensure_world(wargs.root, world)
    print(f"[world {world}: regime checks, zero-shot CLIP and CoOp on the val split, no FVG-PT]",
          flush=True)
    import world_regime  # scripts/; it imports this module
    checks = world_regime.check_regime(wargs, progress)
    for seed in args.seeds:
        print(f"[world {world}, seed {seed}: {time.time() - progress.start:.0f}s elapsed]", flush=True)
        run_seed(wargs, seed, progress)
    per_seed = {}
    for method in methods_of(args.backbones):
        per_seed[LABELS[method]] = []
        for s in args.seeds:
            base, new = (read_run(run_dir(wargs.output, method, split, s)) for split in ("base", "new"))
            per_seed[LABELS[method]].append({"seed": s, "base": base["accuracy"],
                                             "new": new["accuracy"], "d_fg": base["d_fg"]})
    return {"regime": [list(check) for check in checks], "per_seed": per_seed}


def methods_of(backbones):
    return ["ZeroshotCLIP"] + [m for b in backbones for m in (b, f"FVGPT_{b}")]


def pairs_of(backbones):
    return [(LABELS[b], LABELS[f"FVGPT_{b}"]) for b in backbones]


def report(summary):
    """The job's report from its summary: the table over worlds, the regime checks per world,
    which of the paper's claims hold in how many worlds, and the verdict (Markdown)."""
    per_world = {w: part["per_seed"] for w, part in summary["worlds"].items()}
    pairs = pairs_of(summary["backbones"])
    regime = "; ".join(f"world {w}: {sum(ok for _, ok, _ in part['regime'])} of "
                       f"{len(part['regime'])}" for w, part in summary["worlds"].items())
    return "\n".join([
        f"FG-World base-to-new, 16 shots, worlds (generator seeds) {', '.join(summary['worlds'])} "
        f"x training seeds {', '.join(map(str, summary['seeds']))}. Each cell: mean over worlds of the per-world mean "
        "over training seeds ± std across worlds (in brackets: the mean std across training "
        "seeds). D_fg on the base test set with the benchmark's segmenter masks, tau 2.",
        "", worlds_to_markdown(summarise_worlds(per_world)),
        f"Regime checks holding (val split, no FVG-PT): {regime}.", "",
        "The paper's claims, in how many worlds each holds (mean over training seeds per world):",
        *[f"- {line}" for line in paper_claims(per_world, pairs, LABELS["ZeroshotCLIP"])], "",
        "Verdict (computed from the numbers above):",
        *[f"- {line}" for line in world_verdict(per_world, pairs)]]) + "\n"


def write_outputs(summary, folder):
    """``report.md``, ``per_world.md`` (each world's table and regime checks) and ``d_fg.png``."""
    os.makedirs(folder, exist_ok=True)
    text = report(summary)
    with open(os.path.join(folder, "report.md"), "w") as f:
        f.write(text)
    parts = []
    for world, part in summary["worlds"].items():
        checks = "\n".join(f"- {name}: {'holds' if ok else 'does NOT hold'}, {measured}"
                           for name, ok, measured in part["regime"])
        parts.append(f"## World {world}\n\nTest split, mean ± std over training seeds "
                     f"{summary['seeds']}:\n\n{to_markdown(summarise(part['per_seed']))}\n"
                     f"Regime checks (val split, no FVG-PT):\n\n{checks}\n")
    with open(os.path.join(folder, "per_world.md"), "w") as f:
        f.write("# FG-World, world by world\n\n" + "\n".join(parts))
    per_world = {w: part["per_seed"] for w, part in summary["worlds"].items()}
    d_fg_plot(summarise_worlds(per_world), os.path.join(folder, "d_fg.png"),
              f"FG-World, {len(per_world)} worlds x {len(summary['seeds'])} training seeds",
              spread="std across worlds")
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=os.path.join(REPO, "data"),
                        help="data folder; world K is generated in <root>/world<K>")
    parser.add_argument("--output", default=os.path.join(REPO, "output", "world_benchmark"))
    parser.add_argument("--worlds", type=int, nargs="+", default=list(DEFAULT_WORLDS),
                        help="FG-World generator seeds (DATASET.WORLD_SEED), one world each")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="training seeds")
    # black: the tiny CLIP was pre-trained with 30 % of its scenes on black (fvgpt/world/README.md),
    # so black-filled foreground views are the familiar ones; the library default is mean.
    parser.add_argument("--fg-fill", choices=("black", "mean"), default="black",
                        help="TRAINER.FVGPT.FG_FILL of every run (also D_fg's foreground view)")
    parser.add_argument("--backbones", nargs="+", default=list(DEFAULT_BACKBONES), choices=BACKBONES,
                        help=f"default {' '.join(DEFAULT_BACKBONES)}")
    parser.add_argument("--full", action="store_true",
                        help=f"the full grid: all four backbones ({' '.join(BACKBONES)})")
    parser.add_argument("--from-summary", metavar="SUMMARY_JSON",
                        help="run nothing: print the report of a finished job's summary.json "
                             "(and write its report, per-world tables and plot to --output)")
    parser.add_argument("--held-out", metavar="SUMMARY_JSON",
                        help="also check that the HM gaps in the worlds of another job's "
                             "summary.json (worlds the verdict did not see) lie within the "
                             "verdict's stated spread")
    args = parser.parse_args(argv)
    args.root, args.output = os.path.abspath(args.root), os.path.abspath(args.output)
    args.epochs = EPOCHS
    if args.full:
        args.backbones = list(BACKBONES)

    if args.from_summary:
        with open(args.from_summary) as f:
            summary = json.load(f)
    else:
        methods = methods_of(args.backbones)
        progress = Progress(methods, args.seeds, worlds=len(args.worlds), regime=True)
        summary = {"seeds": args.seeds, "backbones": args.backbones, "fg_fill": args.fg_fill,
                   "worlds": {str(w): run_world(args, w, progress) for w in args.worlds}}
        summary["seconds"] = round(time.time() - progress.start)
        os.makedirs(args.output, exist_ok=True)
        with open(os.path.join(args.output, "summary.json"), "w") as f:
            json.dump(summary, f, indent=1)
    text = write_outputs(summary, args.output)
    print("\n" + text)
    if args.held_out:
        with open(args.held_out) as f:
            held_out = json.load(f)
        per_world = {w: part["per_seed"] for w, part in summary["worlds"].items()}
        lines = held_out_check(per_world, {w: part["per_seed"] for w, part in held_out["worlds"].items()},
                               pairs_of([b for b in summary["backbones"] if b in held_out["backbones"]]))
        print("Held-out worlds:\n" + "\n".join(f"- {line}" for line in lines))
    print(f"Written to {args.output}: summary.json, report.md, per_world.md, d_fg.png")


if __name__ == "__main__":
    main()
