"""Tabulate a base-to-new sweep (scripts/<trainer>/base2new_*.sh, sweeps.run): base / new / HM / D_fg.

    python scripts/parse_results.py output/base2new [--markdown results.md] [--csv results.csv]

A seed counts when both its ``train_base`` run and its ``test_new`` run
(``<root>/{train_base,test_new}/<dataset>/shots_16/<trainer>/<cfg>/seed<S>``) are
finished, i.e. hold ``result.json``. Every run left out is named, with the reason.
"""
import argparse
import glob
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fvgpt.results import RunNotFinished, read_run, summarise, to_csv, to_markdown  # noqa: E402


def collect(root):
    """{(trainer, dataset): [{"base", "new", "d_fg"}, ...]} and the reasons runs were left out."""
    runs, left_out = {}, []
    seed_dirs = {os.path.relpath(d, os.path.join(root, split))
                 for split in ("train_base", "test_new")
                 for d in glob.glob(os.path.join(root, split, "*", "*", "*", "*", "seed*"))}
    for rel in sorted(seed_dirs):
        dataset, _, trainer, _, _ = rel.split(os.sep)
        try:
            base = read_run(os.path.join(root, "train_base", rel))
            new = read_run(os.path.join(root, "test_new", rel))
        except RunNotFinished as reason:
            left_out.append(str(reason))
            continue
        runs.setdefault((trainer, dataset), []).append(
            {"base": base["accuracy"], "new": new["accuracy"], "d_fg": base["d_fg"]})
    return runs, left_out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", help="the sweep's output folder, e.g. output/base2new")
    parser.add_argument("--markdown", help="write the table to this file "
                                           "(default <root>/results.md)")
    parser.add_argument("--csv", help="write the table as CSV to this file (default <root>/results.csv)")
    args = parser.parse_args()
    runs, left_out = collect(args.root)
    for reason in left_out:
        print(f"left out: {reason}")
    if not runs:
        sys.exit(f"No finished base-to-new seed (train_base and test_new) under {args.root}")
    rows = summarise({f"{t} / {d}": seeds for (t, d), seeds in runs.items()})
    print(to_markdown(rows))
    if left_out:
        print(f"({len(left_out)} seed(s) left out, named above)")
    for path, text in ((args.markdown or os.path.join(args.root, "results.md"), to_markdown(rows)),
                       (args.csv or os.path.join(args.root, "results.csv"), to_csv(rows))):
        with open(path, "w") as f:
            f.write(text)
        print(f"Written to {path}")


if __name__ == "__main__":
    main()
