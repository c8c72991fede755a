"""Benchmark of the replay cache: scripts/ablation.py without and with replay, in one run.

    python scripts/benchmark_replay.py [--root data] [--output output/benchmark_replay]
        [--seeds 1 2 3] [--variants full "no L_dist" ...] [--opts KEY VALUE ...]

The CoOp backbones of the seeds are trained first (untimed, in ``<output>/backbones``). Then the
ablation runs three times, each as its own process: ``processes`` (no cache, a train.py process
per run: the ablation as it ran before replay), ``uncached`` (no cache, every run in the
ablation's process) and ``replayed`` (the default: cache, one process), the last timed in two
parts, its first variant (which records, one run per seed) and the rest. Printed and written
to ``<output>/benchmark_replay.md``: the wall times, the speed-ups, the replayed ablation's
time over its first variant's (the goal is under 1.5), the cache's size on disk (it only
grows, so this is its peak), the peak resident memory, and whether the three ablation tables
are identical to the byte (the script exits with an error when they are not).
"""
import argparse
import filecmp
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from fvgpt.replay import folder_bytes, mib  # noqa: E402
from fvgpt.world.generate import ensure_world  # noqa: E402
from sweeps import ablation  # noqa: E402
from sweeps.plan import run_of, world_sweep  # noqa: E402
from sweeps.watch import Progress, run_watched  # noqa: E402


def run_ablation(args, output, variants, *flags):
    """scripts/ablation.py as a process; returns (seconds, peak RSS in MiB of it or its
    largest train.py process)."""
    cmd = [sys.executable, "-u", os.path.join(REPO, "scripts", "ablation.py"), "--root", args.root,
           "--output", output, "--backbone-output", args.backbones, "--seeds",
           *map(str, args.seeds), "--variants", *variants, "--fg-fill", args.fg_fill, *flags]
    if args.opts:
        cmd += ["--opts", *args.opts]
    start = time.time()
    proc = subprocess.Popen(cmd, cwd=REPO)
    _, status, usage = os.wait4(proc.pid, 0)  # usage covers the train.py runs it waited for
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed (exit {proc.returncode})")
    return time.time() - start, usage.ru_maxrss / 1024


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=os.path.join(REPO, "data"), help="data folder")
    parser.add_argument("--output", default=os.path.join(REPO, "output", "benchmark_replay"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--variants", nargs="+", default=[name for _, name, _ in ablation.VARIANTS],
                        help="ablation variants by name (default: all 25)")
    parser.add_argument("--fg-fill", choices=("black", "mean"), default="black")
    parser.add_argument("--opts", nargs="+", default=[], help="config overrides for every run")
    args = parser.parse_args(argv)
    args.root, args.output = os.path.abspath(args.root), os.path.abspath(args.output)
    args.backbones = os.path.join(args.output, "backbones")
    try:
        ablation.select(names=args.variants)  # unknown names stop here
    except ValueError as e:
        sys.exit(str(e))

    ensure_world(args.root)
    print("[CoOp backbones, untimed]", flush=True)
    # the backbone runs of scripts/ablation.py's plan (world 0), made here before the timing
    backbones = world_sweep(args.root, args.backbones, 0, ["CoOp"], args.seeds,
                            fg_fill=args.fg_fill, opts=args.opts)
    progress = Progress(["CoOp"], args.seeds, splits=("base",))
    for seed in args.seeds:
        run_watched(backbones, run_of(backbones, "CoOp", "base", seed), progress)

    folders = {name: os.path.join(args.output, name) for name in ("processes", "uncached", "replayed")}
    cache = os.path.join(folders["replayed"], "replay_cache")
    print("[ablation without replay, a process per run]", flush=True)
    t_processes, rss_processes = run_ablation(args, folders["processes"], args.variants,
                                              "--replay-cache", "", "--processes")
    print("[ablation without replay, one process]", flush=True)
    t_uncached, rss_uncached = run_ablation(args, folders["uncached"], args.variants,
                                            "--replay-cache", "")
    print("[ablation with replay: first variant (records)]", flush=True)
    t_first, rss_first = run_ablation(args, folders["replayed"], args.variants[:1])
    print("[ablation with replay: all variants (the first is done)]", flush=True)
    t_rest, rss_rest = run_ablation(args, folders["replayed"], args.variants)
    t_replayed = t_first + t_rest
    disk = folder_bytes(cache)

    identical = all(filecmp.cmp(os.path.join(folders["processes"], f), os.path.join(folder, f),
                                shallow=False)
                    for folder in folders.values() for f in ("ablation.md", "ablation.csv"))
    lines = [
        f"Replay benchmark: {len(args.variants)} variants x seeds {args.seeds}, options "
        f"{args.opts or 'none'}, {os.cpu_count()} CPUs visible, {time.strftime('%Y-%m-%d %H:%M')}",
        f"- ablation without replay, a train.py process per run: {t_processes:.0f} s",
        f"- ablation without replay, every run in one process: {t_uncached:.0f} s",
        f"- ablation with replay (one process): {t_replayed:.0f} s ({t_first:.0f} s for the "
        f"first variant, which records, + {t_rest:.0f} s for the others)",
        f"- speed-up of replay: {t_processes / t_replayed:.2f}x over processes without replay, "
        f"{t_uncached / t_replayed:.2f}x over one process without replay",
        f"- with replay / its first variant: {t_replayed / t_first:.2f} (goal < 1.5)",
        f"- replay cache on disk (peak): {mib(disk)}",
        f"- peak resident memory: {rss_processes:.0f} MiB (largest train.py process, without "
        f"replay), {rss_uncached:.0f} MiB (one process, without), {max(rss_first, rss_rest):.0f} "
        "MiB (one process, with replay)",
        f"- ablation tables (ablation.md, ablation.csv) identical: {'yes' if identical else 'NO'}",
    ]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    with open(os.path.join(args.output, "benchmark_replay.md"), "w") as f:
        f.write(text)
    if not identical:
        sys.exit(f"The ablation tables differ: compare {', '.join(folders.values())}.")


if __name__ == "__main__":
    main()
