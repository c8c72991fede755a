"""Run a sweep: python -m sweeps.run {base2new,xd} --root DATA --output DIR [options].

    python -m sweeps.run base2new --root $DATA --output output/base2new          # all backbones, 11 data sets, seeds 1-3
    python -m sweeps.run base2new ... --executor parallel --gpus 0 1 2 3          # one run per GPU at a time
    python -m sweeps.run base2new ... --executor slurm --sbatch-args "--gres=gpu:1 -p gpu"
    python -m sweeps.run xd --root $DATA --output output/xd                        # ImageNet -> 10 targets
    python -m sweeps.run base2new ... --dry-run                                    # the plan only

Runs already done are skipped, so the same command resumes a sweep or, with SLURM, resubmits
what failed; --start-over runs them all again in fresh folders. Every sweep asked for in one
--output is recorded in its sweep.json (docs/sweeps.md). Then: python -m sweeps.tables <output>.
"""
import argparse
import os
import shlex
import sys
import time

from .executors import describe, plan_status, run_local, slurm_queued, submit_slurm, wait_slurm
from .plan import BACKBONES, PAPER_DATASETS, XD_TARGETS, Sweep, expand, known_backbones


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.split("\n")[1:]))
    parser.add_argument("protocol", choices=["base2new", "xd"])
    parser.add_argument("--root", required=True, help="the data folder (DATASET.ROOT)")
    parser.add_argument("--output", required=True, help="the sweep's output folder")
    parser.add_argument("--backbones", nargs="+",
                        default=list(BACKBONES),
                        help=f"of {known_backbones()} (default: the backbones of "
                             "fvgpt/backbones/registry.py)")
    parser.add_argument("--datasets", nargs="+", default=None,
                        help="names under configs/datasets/; base2new: default the 11 of the "
                             "paper; xd: the targets, default the paper's 10 (source: imagenet)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--shots", type=int, default=16)
    parser.add_argument("--config", help="one config name for every trainer, e.g. world "
                                         "(default: each backbone's choice in its record, "
                                         "fvgpt/backbones/registry.py)")
    parser.add_argument("--opts", nargs="+", default=[], help="yacs options for every run")
    parser.add_argument("--no-d-fg", action="store_true",
                        help="base2new: do not measure D_fg on the base test set in the "
                             "base-class runs (it needs masks of the test images)")
    parser.add_argument("--replay-cache", default=None,
                        help="TRAINER.FVGPT.REPLAY_CACHE of the FVG-PT runs: variant sweeps "
                             "of one backbone replay its recorded outputs exactly (docs/replay.md); "
                             'default <folder above --output>/replay_cache, "" = off')
    parser.add_argument("--executor", choices=["sequential", "parallel", "slurm"],
                        default="sequential")
    parser.add_argument("--gpus", nargs="+", default=None,
                        help="parallel: GPU ids, one run per entry at a time (repeat an id to "
                             "share a GPU)")
    parser.add_argument("--sbatch-args", default="", help="slurm: extra sbatch options")
    parser.add_argument("--wait", action="store_true", help="slurm: return when the jobs are done")
    parser.add_argument("--start-over", action="store_true",
                        help="run every run of this command again, done ones included, each in a "
                             "fresh folder; the old folders are kept as <folder>.replaced-<time> "
                             "(train.py --start-over for each run). Run later commands without it")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and run nothing")
    return parser


def sweep_from_args(args):
    datasets = args.datasets or (PAPER_DATASETS if args.protocol == "base2new" else XD_TARGETS)
    return Sweep(protocol=args.protocol, backbones=args.backbones, datasets=datasets,
                 seeds=args.seeds, root=os.path.abspath(args.root),
                 output=os.path.abspath(args.output), shots=args.shots, config=args.config,
                 opts=args.opts, replay_cache=args.replay_cache, d_fg=not args.no_d_fg)


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.executor == "parallel" and not args.gpus:
        sys.exit("--executor parallel needs --gpus (e.g. --gpus 0 1 2 3)")
    try:
        sweep = sweep_from_args(args)
        runs = expand(sweep)
    except (ValueError, FileNotFoundError) as e:
        sys.exit(str(e))
    where = {"sequential": "one after another on this machine",
             "parallel": f"on this machine, one per GPU slot {args.gpus}",
             "slurm": "as SLURM jobs (sbatch --dependency=afterok)"}[args.executor]
    queued = slurm_queued(sweep, runs) if args.executor == "slurm" else {}
    print(describe(sweep, runs, plan_status(sweep, runs, queued, args.start_over), where),
          flush=True)
    if args.dry_run:
        return
    try:
        sweep.save()
    except ValueError as e:
        sys.exit(str(e))
    start = time.time()
    if args.executor == "slurm":
        jobs = submit_slurm(sweep, runs, shlex.split(args.sbatch_args), start_over=args.start_over)
        print(f"{len(jobs)} SLURM jobs in the queue; logs in each run folder (slurm-<job>.out)")
        if not args.wait:
            return
        wait_slurm(list(jobs.values()))
        failed = [r.name for r in runs if r.result(sweep) is None]
    else:
        slots = args.gpus if args.executor == "parallel" else [None]
        failed, blocked = run_local(sweep, runs, slots, start_over=args.start_over)
        failed += blocked
    print(f"Finished in {time.time() - start:.0f}s: {len(runs) - len(failed)} of {len(runs)} runs "
          f"done. Tables: python -m sweeps.tables {sweep.output}")
    if failed:
        sys.exit(f"{len(failed)} runs not done (failed, or needed a failed run): run the same "
                 "command again to retry them")


if __name__ == "__main__":
    main()
