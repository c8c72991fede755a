"""FVG-PT ablations on FG-World (paper Tables 3, 6, 12, 13 and Fig. 4b): CoOp + FVG-PT with parts
switched off by TRAINER.FVGPT.ABLATION, and lambda_d / tau sweeps; base-to-new.

A variant is a world sweep (``sweeps.plan.world_sweep``) of CoOp whose FVG-PT runs get the
variant's options (``fvgpt_opts``) and go to the variant's folder, on the CoOp backbone runs
of another folder (``backbone_output``, the main job's world 0 by default). The variants of
one seed train and are tested on the frozen backbone's outputs recorded by the first of them
(TRAINER.FVGPT.REPLAY_CACHE; docs/replay.md), all in one process: the same numbers, bit for
bit, as without.
CLI: scripts/ablation.py; scripts/mask_sources.py runs mask sources as variants.
"""
import os

from .plan import run_of, world_sweep
from .watch import Progress, run_watched

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
            raise ValueError(f"Unknown ablation variant(s) {unknown}; choose from {list(known)}.")
        return [known[n] for n in names]
    unknown = set(groups or ()) - set(GROUPS)
    if unknown:
        raise ValueError(f"Unknown ablation group(s) {sorted(unknown)}; choose from {list(GROUPS)}.")
    return [v for v in VARIANTS if groups is None or v[0] in groups]


def variant_dir(output, name):
    """Folder of one variant's runs: its name with spaces and symbols made path-safe."""
    safe = "".join(c if c.isalnum() or c in ".-" else "_" for c in name)
    return os.path.join(output, safe)


def variant_sweep(root, output, backbone_output, name, variant_opts, seeds, world_seed=0,
                  fg_fill="black", opts=(), replay_cache=""):
    """The runs of one variant: CoOp + FVG-PT with ``variant_opts`` in ``variant_dir(output,
    name)``, on the CoOp runs in ``backbone_output``; ``opts`` go to every run."""
    return world_sweep(root, variant_dir(output, name), world_seed, ["CoOp"], seeds,
                       fg_fill=fg_fill, opts=opts, replay_cache=replay_cache,
                       fvgpt_opts=list(variant_opts), backbone_output=backbone_output)


def run_variant(sweep, seed, in_process=True):
    """A variant's CoOp backbone run (trained if missing), then its FVG-PT base (trained) and
    new (evaluated) runs on one seed, in this process unless ``in_process`` is False
    (``run_watched``); returns {split: result} of the FVG-PT runs."""
    progress = Progress(["CoOp", "FVGPT_CoOp"], [seed])
    runs = [run_of(sweep, trainer, split, seed)
            for trainer, split in (("CoOp", "base"), ("FVGPT_CoOp", "base"), ("FVGPT_CoOp", "new"))]
    results = [run_watched(sweep, run, progress, in_process=in_process) for run in runs]
    return {"base": results[1], "new": results[2]}
