"""FVG-PT ablations on FG-World (paper Tables 3, 6, 12, 13 and Fig. 4b): CoOp + FVG-PT with parts
switched off by TRAINER.FVGPT.ABLATION, and lambda_d / tau sweeps; base-to-new, mean ± std over
seeds (sweeps/ablation.py lists the variants).

Every run is a train.py call, skipped when finished, so the command resumes. The CoOp
backbones are the main job's runs (``--backbone-output``, default the main job's world 0,
output/world_benchmark/world0), trained there if missing. Writes ``ablation.md`` and
``ablation.csv`` in ``--output``; each variant's runs are in ``<output>/<variant>/FVGPT_CoOp/
<base|new>/seed<S>``.

    python scripts/ablation.py [--root data/world0] [--output output/ablation] [--seeds 1 2 3]
        [--groups losses fixed_r ...] [--variants full "no L_dist" ...] [--opts KEY VALUE ...]

Every run uses ``--fg-fill`` (default black, as the main job); the ``fill`` group compares the
two foreground views (TRAINER.FVGPT.FG_FILL). The variants of one seed replay the frozen
backbone's outputs recorded by the first of them (``--replay-cache``, default
``<output>/replay_cache``; docs/replay.md), and every run is a call of train.py's ``main`` in
this process (``--processes``: a process each): the same numbers, bit for bit, as without
(``--replay-cache "" --processes``), in a fraction of the time.
"""
import argparse
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from fvgpt.results import summarise, write_table  # noqa: E402
from fvgpt.world.generate import ensure_world  # noqa: E402
from sweeps import ablation, world  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    world.add_run_arguments(parser, "where the variants' runs go")
    parser.set_defaults(output=os.path.join(REPO, "output", "ablation"))
    parser.add_argument("--backbone-output", default=os.path.join(REPO, "output", "world_benchmark", "world0"),
                        help="where the CoOp backbone runs are (the main job's output)")
    parser.add_argument("--groups", nargs="+", choices=ablation.GROUPS, help="only these groups")
    parser.add_argument("--variants", nargs="+", help="only these variants (by name)")
    parser.add_argument("--replay-cache", help='TRAINER.FVGPT.REPLAY_CACHE of the FVG-PT runs '
                        '(default <output>/replay_cache; "" = off)')
    parser.add_argument("--processes", action="store_true",
                        help="each run a python train.py process (default: all in this one)")
    args = parser.parse_args(argv)
    args.root, args.output = os.path.abspath(args.root), os.path.abspath(args.output)
    args.backbone_output = os.path.abspath(args.backbone_output)
    if args.replay_cache is None:
        args.replay_cache = os.path.join(args.output, "replay_cache")
    args.replay_cache = args.replay_cache and os.path.abspath(args.replay_cache)
    try:
        variants = ablation.select(args.groups, args.variants)
    except ValueError as e:
        sys.exit(str(e))

    start = time.time()
    ensure_world(args.root, args.world_seed)
    per_seed = {}
    for group, name, opts in variants:
        print(f"[{group}: {name}, {time.time() - start:.0f}s elapsed]", flush=True)
        sweep = ablation.variant_sweep(
            args.root, args.output, args.backbone_output, name, opts, args.seeds,
            world_seed=args.world_seed, fg_fill=args.fg_fill, opts=args.opts,
            replay_cache=args.replay_cache)
        results = [ablation.run_variant(sweep, seed, not args.processes) for seed in args.seeds]
        per_seed[name] = [{"base": r["base"]["accuracy"], "new": r["new"]["accuracy"],
                           "d_fg": r["base"]["d_fg"]} for r in results]
    rows = summarise(per_seed)
    write_table(rows, args.output, "ablation",
                f"FVG-PT ablations on FG-World, seeds {args.seeds} ({time.time() - start:.0f}s)")
    return rows


if __name__ == "__main__":
    main()
