"""The main job: zero-shot CLIP and each backbone alone and with FVG-PT on top, base-to-new on
FG-World, over several worlds x training seeds 1-3 (CLI: scripts/world_benchmark.py).

A world is FG-World generated with one generator seed (world K in ``<root>/world<K>``, its
runs in ``<output>/world<K>``, laid out by ``sweeps.plan.world_sweep``:
``<trainer>/<base|new>/seed<S>``). For each world, first the regime checks (a)-(d) of
``sweeps.regime`` on the val split, without FVG-PT (is this world in the regime the paper
targets?); then every run on the test split. Every run is a call of train.py's ``main`` in the
job's process (``sweeps.watch.run_watched``: the numbers of separate ``python train.py``
processes); a run is done when its ``result.json`` reads, so an interrupted job picks up
where it stopped.

``report`` and ``write_outputs`` make, from the job's summary, ``report.md`` (the table over
worlds with the spread across worlds and across training seeds kept apart, the regime checks
per world, in how many worlds each of the paper's claims holds, and a verdict whose "beyond
the spread" uses the spread across worlds), ``per_world.md`` and ``d_fg.png``.
"""
import os
import time

from fvgpt.backbones.registry import BACKBONES
from fvgpt.results import (d_fg_plot, paper_claims, summarise, summarise_worlds, to_markdown,
                           world_verdict, worlds_to_markdown)
from fvgpt.world.generate import ensure_world

from . import regime
from .plan import REPO, ZERO_SHOT, expand, world_sweep
from .watch import run_watched

DEFAULT_WORLDS = (0, 1, 2)
# What fits in about 15 minutes on 2 cores over three worlds (--full: every backbone).
DEFAULT_BACKBONES = ("CoOp", "PromptSRC")
LABELS = {ZERO_SHOT: "CLIP (zero-shot)", **{b: b for b in BACKBONES},
          **{f"FVGPT_{b}": f"{b} + FVG-PT" for b in BACKBONES}}


def add_run_arguments(parser, output_help):
    """The options of the scripts built on one world of the main job (world_regime,
    world_diagnosis, ablation, mask_sources)."""
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


def sweep_of_arguments(args, backbones):
    """The world sweep of ``backbones`` those options name (the main job's runs of that world),
    the world generated first if missing."""
    ensure_world(os.path.abspath(args.root), args.world_seed)
    return world_sweep(os.path.abspath(args.root), os.path.abspath(args.output), args.world_seed,
                       backbones, args.seeds, fg_fill=args.fg_fill, opts=args.opts)


def run_world(root, output, world, backbones, seeds, fg_fill, progress):
    """Regime checks, then every run of one world (in ``<root>/world<K>``, runs in
    ``<output>/world<K>``); its part of the summary."""
    sweep = world_sweep(os.path.join(root, f"world{world}"), os.path.join(output, f"world{world}"),
                        world, [ZERO_SHOT, *backbones], seeds, fg_fill=fg_fill)
    ensure_world(sweep.root, world)
    print(f"[world {world}: regime checks, zero-shot CLIP and CoOp on the val split, no FVG-PT]",
          flush=True)
    checks = regime.check_regime(sweep, progress)
    runs = expand_by_seed(sweep)
    results = {}
    for seed in seeds:
        print(f"[world {world}, seed {seed}: {time.time() - progress.start:.0f}s elapsed]", flush=True)
        for run in runs[seed]:
            results[run.trainer, run.split, seed] = run_watched(sweep, run, progress)
    per_seed = {}
    for method in methods_of(backbones):
        per_seed[LABELS[method]] = []
        for s in seeds:
            base, new = (results[method, split, s] for split in ("base", "new"))
            per_seed[LABELS[method]].append({"seed": s, "base": base["accuracy"],
                                             "new": new["accuracy"], "d_fg": base["d_fg"]})
    return {"regime": [list(check) for check in checks], "per_seed": per_seed}


def expand_by_seed(sweep):
    """{seed: its runs, in the plan's order}: the job runs one seed after another."""
    runs = {}
    for run in expand(sweep):
        runs.setdefault(run.seed, []).append(run)
    return runs


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
