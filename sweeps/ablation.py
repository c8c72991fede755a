"""FVG-PT ablations on FG-World (paper Tables 3, 6, 12, 13 and Fig. 4b): CoOp + FVG-PT with parts
switched off by TRAINER.FVGPT.ABLATION, and lambda_d / tau sweeps; base-to-new, mean ± std over seeds.

Every run is a train.py call made by scripts/world_benchmark.py (skipped when its log already
holds a result, so the command resumes). The CoOp backbones are the main job's runs
(``--backbone-output``, default the main job's world 0, output/world_benchmark/world0),
trained there if missing. Writes
``ablation.md`` and ``ablation.csv`` in ``--output``.

    python scripts/ablation.py [--root data/world0] [--output output/ablation] [--seeds 1 2 3]
        [--groups losses fixed_r ...] [--variants full "no L_dist" ...] [--opts KEY VALUE ...]

Every run uses ``--fg-fill`` (default black, as the main job); the ``fill`` group compares the
two foreground views (TRAINER.FVGPT.FG_FILL).

The variants of one seed train on the frozen backbone's outputs recorded by the first of them
(TRAINER.FVGPT.REPLAY_CACHE in ``--replay-cache``, default ``<output>/replay_cache``; docs/replay.md):
the same numbers, bit for bit, as without (``--replay-cache ""``), in a fraction of the time.
"""
import argparse
import os
import sys
import time
from types import SimpleNamespace

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "scripts"))

import world_benchmark  # noqa: E402
from fvgpt.results import read_run, summarise, write_table  # noqa: E402
from fvgpt.world.generate import ensure_world  # noqa: E402

LOSS_TERMS = ("frg", "fdc_ce", "dist", "pc_ce", "pc_kl")  # TRAINER.FVGPT.ABLATION.LOSSES


def _without(term):
    return ["TRAINER.FVGPT.ABLATION.LOSSES", str([t for t in LOSS_TERMS if t != term])]


# (group, variant name, config overrides); "full" is the paper's FVG-PT.
VARIANTS = (
    ("losses", "full", []),
    ("losses", "no L_FRG", _without("frg")),
    ("losses", "no FDC L_CE", _without("fdc_ce")),
    ("losses", "no L_dist", _without("dist")),
    ("losses", "no PC L_CE", _without("pc_ce")),
    ("losses", "no PC L_KL", _without("pc_kl")),
    ("fixed_r", "FRG -> r = 0", ["TRAINER.FVGPT.ABLATION.FIXED_R", "0.0"]),
    ("fixed_r", "FRG -> r = 0.5", ["TRAINER.FVGPT.ABLATION.FIXED_R", "0.5"]),
    ("fixed_r", "FRG -> r = 1", ["TRAINER.FVGPT.ABLATION.FIXED_R", "1.0"]),
    ("fixed_b", "BRG -> b = 0", ["TRAINER.FVGPT.ABLATION.FIXED_B", "0.0"]),
    ("fixed_b", "BRG -> b = 0.5", ["TRAINER.FVGPT.ABLATION.FIXED_B", "0.5"]),
    ("fixed_b", "BRG -> b = 1", ["TRAINER.FVGPT.ABLATION.FIXED_B", "1.0"]),
    # FRG inputs: 0 entropy gap (distribution), 1 cosine (similarity), 2 area (geometric);
    # BRG inputs: 0, 1 entropies (distribution), 2 cosine (similarity). Paper Table 6.
    ("indicators", "FRG w/o distribution", ["TRAINER.FVGPT.ABLATION.FRG_INPUTS", "[1, 2]"]),
    ("indicators", "FRG w/o similarity", ["TRAINER.FVGPT.ABLATION.FRG_INPUTS", "[0, 2]"]),
    ("indicators", "FRG w/o geometric", ["TRAINER.FVGPT.ABLATION.FRG_INPUTS", "[0, 1]"]),
    ("indicators", "BRG w/o distribution", ["TRAINER.FVGPT.ABLATION.BRG_INPUTS", "[2]"]),
    ("indicators", "BRG w/o similarity", ["TRAINER.FVGPT.ABLATION.BRG_INPUTS", "[0, 1]"]),
    ("branches", "FDC visual only", ["TRAINER.FVGPT.ABLATION.TEXT_ADAPTER", "False"]),
    ("lambda_d", "lambda_d = 1", ["TRAINER.FVGPT.LAMBDA_DIST", "1.0"]),
    ("lambda_d", "lambda_d = 5", ["TRAINER.FVGPT.LAMBDA_DIST", "5.0"]),
    ("lambda_d", "lambda_d = 20", ["TRAINER.FVGPT.LAMBDA_DIST", "20.0"]),
    ("tau", "tau = 1", ["TRAINER.FVGPT.TAU", "1.0"]),
    ("tau", "tau = 4", ["TRAINER.FVGPT.TAU", "4.0"]),
    ("fill", "FG_FILL black", ["TRAINER.FVGPT.FG_FILL", "black"]),
    ("fill", "FG_FILL mean", ["TRAINER.FVGPT.FG_FILL", "mean"]),
)
GROUPS = tuple(dict.fromkeys(g for g, _, _ in VARIANTS))


def select(groups=None, names=None):
    """The variants in ``groups`` (all if None), or exactly those called ``names``."""
    if names:
        known = {name: (g, name, opts) for g, name, opts in VARIANTS}
        unknown = [n for n in names if n not in known]
        if unknown:
            sys.exit(f"Unknown ablation variant(s) {unknown}; choose from {list(known)}.")
        return [known[n] for n in names]
    unknown = set(groups or ()) - set(GROUPS)
    if unknown:
        sys.exit(f"Unknown ablation group(s) {sorted(unknown)}; choose from {list(GROUPS)}.")
    return [v for v in VARIANTS if groups is None or v[0] in groups]


def variant_dir(output, name):
    """Folder of one variant's runs: its name with spaces and symbols made path-safe."""
    safe = "".join(c if c.isalnum() or c in ".-" else "_" for c in name)
    return os.path.join(output, safe)


def run_variant(args, name, opts, seed):
    """CoOp + FVG-PT with ``opts`` on base (trained) and new (evaluated), one seed."""
    backbone_runs = SimpleNamespace(root=args.root, output=args.backbone_output, epochs=args.epochs,
                                    fg_fill=args.fg_fill)
    runs = SimpleNamespace(root=args.root, output=variant_dir(args.output, name), epochs=args.epochs,
                           fg_fill=args.fg_fill)
    progress = world_benchmark.Progress(["CoOp", "FVGPT_CoOp"], [seed])
    coop_base = world_benchmark.run_dir(args.backbone_output, "CoOp", "base", seed)
    world_benchmark.train_py(backbone_runs, "CoOp", "base", seed, args.opts, progress)
    backbone = ["TRAINER.FVGPT.BACKBONE_DIR", coop_base] + opts + args.opts
    fvgpt_base = world_benchmark.run_dir(runs.output, "FVGPT_CoOp", "base", seed)
    replay = ["TRAINER.FVGPT.REPLAY_CACHE", args.replay_cache] if args.replay_cache else []
    world_benchmark.train_py(runs, "FVGPT_CoOp", "base", seed,
                             backbone + ["TEST.FOREGROUND_SHIFT_INDEX", "True"] + replay, progress)
    world_benchmark.train_py(runs, "FVGPT_CoOp", "new", seed, backbone, progress, eval_from=fvgpt_base)
    return {split: read_run(world_benchmark.run_dir(runs.output, "FVGPT_CoOp", split, seed))
            for split in ("base", "new")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=os.path.join(REPO, "data", "world0"), help="data folder (FG-World seed 0)")
    parser.add_argument("--output", default=os.path.join(REPO, "output", "ablation"))
    parser.add_argument("--backbone-output", default=os.path.join(REPO, "output", "world_benchmark", "world0"),
                        help="where the CoOp backbone runs are (the main job's output)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--groups", nargs="+", choices=GROUPS, help="only these groups")
    parser.add_argument("--variants", nargs="+", help="only these variants (by name)")
    parser.add_argument("--fg-fill", choices=("black", "mean"), default="black",
                        help="TRAINER.FVGPT.FG_FILL of every run (the fill group overrides it)")
    parser.add_argument("--opts", nargs="+", default=[],
                        help="config overrides for every run, backbones included")
    parser.add_argument("--replay-cache", help='TRAINER.FVGPT.REPLAY_CACHE of the training runs '
                        '(default <output>/replay_cache; "" = off)')
    args = parser.parse_args(argv)
    args.root, args.output = os.path.abspath(args.root), os.path.abspath(args.output)
    if args.replay_cache is None:
        args.replay_cache = os.path.join(args.output, "replay_cache")
    args.replay_cache = args.replay_cache and os.path.abspath(args.replay_cache)
    args.backbone_output = os.path.abspath(args.backbone_output)
    args.epochs = world_benchmark.epochs_of(args.opts)
    variants = select(args.groups, args.variants)

    start = time.time()
    ensure_world(args.root)
    per_seed = {}
    for group, name, opts in variants:
        print(f"[{group}: {name}, {time.time() - start:.0f}s elapsed]", flush=True)
        results = [run_variant(args, name, opts, seed) for seed in args.seeds]
        per_seed[name] = [{"base": r["base"]["accuracy"], "new": r["new"]["accuracy"],
                           "d_fg": r["base"]["d_fg"]} for r in results]
    rows = summarise(per_seed)
    write_table(rows, args.output, "ablation",
                f"FVG-PT ablations on FG-World, seeds {args.seeds} ({time.time() - start:.0f}s)")
    return rows


if __name__ == "__main__":
    main()
