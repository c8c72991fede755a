"""Tabulate a base-to-new sweep (scripts/base2new_sweep.sh): base / new / HM per data set.

    python scripts/parse_results.py output/base2new [--markdown results.md]

Reads ``<root>/train_base/<dataset>/shots_16/<trainer>/<cfg>/seed*/log.txt`` (base
accuracy) and the matching ``test_new`` logs (new accuracy); seeds missing either are
left out and counted.
"""
import argparse
import glob
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fvgpt.results import read_run, summarise, to_markdown  # noqa: E402


def collect(root):
    """{(trainer, dataset): [{"base", "new", "d_fg"}, ...]} and the number of incomplete seeds."""
    runs, incomplete = {}, 0
    for base_dir in sorted(glob.glob(os.path.join(root, "train_base", "*", "*", "*", "*", "seed*"))):
        rel = os.path.relpath(base_dir, os.path.join(root, "train_base"))
        dataset, _, trainer, _, _ = rel.split(os.sep)
        try:
            base = read_run(base_dir)
            new = read_run(os.path.join(root, "test_new", rel))
        except (FileNotFoundError, ValueError):
            incomplete += 1
            continue
        runs.setdefault((trainer, dataset), []).append(
            {"base": base["accuracy"], "new": new["accuracy"], "d_fg": base["d_fg"]})
    return runs, incomplete


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", help="the sweep's output folder, e.g. output/base2new")
    parser.add_argument("--markdown", help="also write the table to this file")
    args = parser.parse_args()
    runs, incomplete = collect(args.root)
    if not runs:
        sys.exit(f"No finished base-to-new runs under {args.root}")
    table = to_markdown(summarise({f"{t} / {d}": seeds for (t, d), seeds in runs.items()}))
    print(table)
    if incomplete:
        print(f"({incomplete} seed runs without both a base and a new result were left out)")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table)


if __name__ == "__main__":
    main()
