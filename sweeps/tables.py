"""The paper's tables from a sweep's runs: python -m sweeps.tables <sweep output> [--to DIR].

base2new -> Table 1: per data set base / new / HM (mean ± std over seeds) of each backbone
with and without FVG-PT, and the average over the sweep's data sets; xd -> Table 2: the
ImageNet source, each target and the targets' average. Beside ours, the paper's figures
(sweeps/paper.py) and the difference, where the paper reports the data set. Written as
Markdown, CSV and a PNG of FVG-PT's gain per data set; printed as Markdown.

The tables are read from the folder given, wherever it was moved or copied; they cover every
sweep asked for there (sweep.json). A data set or seed without a result is marked as missing:
cells say how many seeds they hold, base, new and HM of a row are over the same seeds (those
with both results; a partial row names them), and an average over data sets, or a gain of
FVG-PT, is given only when every seed is there. A result.json that cannot be read is named
with the fix, and the exit status is then 1.
"""
import argparse
import csv
import io
import math
import os
import sys

from fvgpt.results import harmonic_mean, mean_std

from . import paper
from .plan import BACKBONES, PAPER_DATASETS, XD_SOURCE, XD_TARGETS, Sweep, expand

FVGPT = " + FVG-PT"


def methods(sweep):
    """Row labels in order: each backbone, then the backbone with FVG-PT (not zero-shot CLIP)."""
    labels = []
    for name in sweep.backbones:
        labels.append(name)
        if name in BACKBONES:
            labels.append(name + FVGPT)
    return labels


def collect(sweep):
    """{(method, data set, split): {seed: accuracy}} of the runs that have a result, and the
    messages of runs whose result.json exists but cannot be read."""
    found, unreadable = {}, []
    for run in expand(sweep):
        result = run.result(sweep)
        if result is not None:
            found.setdefault((run.method, run.dataset, run.split), {})[run.seed] = result["accuracy"]
        elif run.unreadable_result(sweep):
            unreadable.append(run.unreadable_result(sweep))
    return found, unreadable


class Cell:
    """Accuracies of one method on one data set over the sweep's seeds (some may be missing)."""

    def __init__(self, by_seed, seeds):
        self.seeds = [s for s in seeds if s in by_seed]
        self.n_expected = len(seeds)
        self.values = [by_seed[s] for s in self.seeds]

    @property
    def complete(self):
        return len(self.values) == self.n_expected

    def stats(self):
        return mean_std(self.values) if self.values else (math.nan, math.nan)


def fmt(mean, std=None):
    if mean is None or math.isnan(mean):
        return "missing"
    return f"{mean:.2f}" if std is None else f"{mean:.2f} ± {std:.2f}"


def signed(value):
    return "" if value is None or math.isnan(value) else f"{value:+.2f}"


def table1(sweep, found):
    """Rows of Table 1: one per (data set, method), then the average over data sets."""
    rows = []
    for dataset in sweep.datasets:
        for method in methods(sweep):
            by_seed = [found.get((method, dataset, split), {}) for split in ("base", "new")]
            # base, new and HM over the seeds with both results, never over two seed sets
            both = [s for s in sweep.seeds if all(s in found_ for found_ in by_seed)]
            base, new = (Cell(found_, both) for found_ in by_seed)
            (b, b_std), (n, n_std) = base.stats(), new.stats()
            hm_seeds = [harmonic_mean(by_seed[0][s], by_seed[1][s]) for s in both]
            unmatched = sorted(set().union(*by_seed) - set(both))
            seeds = f"{len(both)}/{len(sweep.seeds)}"
            if len(both) < len(sweep.seeds):
                seeds += f" (seeds {', '.join(map(str, both)) or 'none'}" + (
                    f"; left out, base or new only: {', '.join(map(str, unmatched))})"
                    if unmatched else ")")
            rows.append({
                "dataset": dataset, "method": method, "seeds": seeds,
                "complete": len(both) == len(sweep.seeds),
                "base": b, "base_std": b_std, "new": n, "new_std": n_std,
                # HM of the mean base and new accuracies, as the paper's Table 1 figures are
                # (e.g. CoOp ImageNet: HM(75.96, 68.93) = 72.27); ± is over the per-seed HMs.
                "hm": harmonic_mean(b, n) if both else math.nan,
                "hm_std": mean_std(hm_seeds)[1] if hm_seeds else math.nan,
                "paper": paper.TABLE1.get(method, {}).get(dataset),
            })
    for method in methods(sweep):
        mine = [r for r in rows if r["method"] == method]
        incomplete = [r["dataset"] for r in mine if not r["complete"]]
        b = n = math.nan
        if not incomplete:  # never an average over fewer data sets than the sweep holds
            b = sum(r["base"] for r in mine) / len(mine)
            n = sum(r["new"] for r in mine) / len(mine)
        rows.append({
            "dataset": f"average over {len(sweep.datasets)}", "method": method,
            "seeds": f"missing: {', '.join(incomplete)}" if incomplete else f"{len(sweep.seeds)}",
            "complete": not incomplete, "base": b, "base_std": None, "new": n, "new_std": None,
            "hm": math.nan if incomplete else harmonic_mean(b, n), "hm_std": None,
            "paper": paper.TABLE1.get(method, {}).get("average")
            if sorted(sweep.datasets) == sorted(PAPER_DATASETS) else None,
        })
    return rows


def table1_markdown(rows):
    lines = ["| data set | method | seeds | base | new | HM | paper base / new / HM | Δ ours − paper |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ours = [fmt(r[k], r[k + "_std"]) for k in ("base", "new", "hm")]
        published = diff = ""
        if r["paper"]:
            published = " / ".join(f"{v:.2f}" for v in r["paper"])
            if r["complete"]:
                diff = " / ".join(signed(r[k] - v) for k, v in zip(("base", "new", "hm"), r["paper"]))
        lines.append(f"| {r['dataset']} | {r['method']} | {r['seeds']} | " + " | ".join(ours)
                     + f" | {published} | {diff} |")
    return "\n".join(lines) + "\n"


def table1_csv(rows):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["dataset", "method", "seeds", "base", "base_std", "new", "new_std", "hm",
                     "hm_std", "paper_base", "paper_new", "paper_hm"])
    for r in rows:
        writer.writerow([r["dataset"], r["method"], r["seeds"]]
                        + [_num(r[k]) for k in ("base", "base_std", "new", "new_std", "hm", "hm_std")]
                        + (list(r["paper"]) if r["paper"] else ["", "", ""]))
    return out.getvalue()


def table2(sweep, found):
    """Rows of Table 2, one per method: {data set: (mean, std, seeds)} and the targets' average."""
    rows = []
    for method in methods(sweep):
        row = {"method": method, "cells": {}, "paper": paper.TABLE2.get(method, {})}
        for dataset, split in [(XD_SOURCE, "source")] + [(t, "target") for t in sweep.datasets]:
            cell = Cell(found.get((method, dataset, split), {}), sweep.seeds)
            row["cells"][dataset] = (*cell.stats(), cell)
        targets = [row["cells"][t] for t in sweep.datasets]
        complete = all(c[2].complete for c in targets)
        row["average"] = sum(c[0] for c in targets) / len(targets) if complete else math.nan
        row["paper_average"] = row["paper"].get("average") \
            if sorted(sweep.datasets) == sorted(XD_TARGETS) else None
        rows.append(row)
    return rows


def table2_markdown(sweep, rows):
    columns = [XD_SOURCE] + list(sweep.datasets)
    lines = ["| method | " + " | ".join([f"{XD_SOURCE} (source)"] + list(sweep.datasets))
             + f" | average over {len(sweep.datasets)} targets |",
             "|---" * (len(columns) + 2) + "|"]
    for r in rows:
        cells = []
        for d in columns:
            mean, std, cell = r["cells"][d]
            seeds = "" if cell.complete else f" ({len(cell.values)}/{cell.n_expected} seeds)"
            cells.append(fmt(mean, std) + (seeds if cell.values else ""))
        lines.append(f"| {r['method']} | " + " | ".join(cells) + f" | {fmt(r['average'])} |")
        if r["paper"]:
            published = [fmt(r["paper"].get(d)) if d in r["paper"] else "" for d in columns]
            lines.append(f"| {r['method']} (paper) | " + " | ".join(published)
                         + f" | {fmt(r['paper_average']) if r['paper_average'] else ''} |")
            diffs = [signed(r["cells"][d][0] - r["paper"][d])
                     if d in r["paper"] and r["cells"][d][2].complete else "" for d in columns]
            average_diff = signed(r["average"] - r["paper_average"]) if r["paper_average"] else ""
            lines.append("| Δ ours − paper | " + " | ".join(diffs) + f" | {average_diff} |")
    return "\n".join(lines) + "\n"


def table2_csv(sweep, rows):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["method", "dataset", "role", "seeds", "accuracy", "accuracy_std", "paper"])
    for r in rows:
        for d, (mean, std, cell) in r["cells"].items():
            writer.writerow([r["method"], d, "source" if d == XD_SOURCE else "target",
                             len(cell.values), _num(mean), _num(std), r["paper"].get(d, "")])
        writer.writerow([r["method"], "average", "targets", "", _num(r["average"]), "",
                         r["paper_average"] or ""])
    return out.getvalue()


def _num(value):
    return "" if value is None or math.isnan(value) else f"{value:.4f}"


def gain_plot(path, title, ylabel, datasets, gains, paper_gains):
    """Grouped bars: FVG-PT's gain per data set for each backbone; the paper's as black ticks."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(4.0, 1.0 + 0.9 * len(datasets)), 3.6))
    width = 0.8 / max(1, len(gains))
    for i, (backbone, values) in enumerate(gains.items()):
        xs = [j + (i - (len(gains) - 1) / 2) * width for j in range(len(datasets))]
        ax.bar(xs, [0.0 if math.isnan(v) else v for v in values], width, label=backbone)
        for x, v in zip(xs, values):
            if math.isnan(v):
                ax.text(x, 0, "missing", rotation=90, ha="center", va="bottom", fontsize=7)
        marks = [(x, p) for x, p in zip(xs, paper_gains[backbone]) if p is not None]
        if marks:
            ax.scatter(*zip(*marks), marker="_", s=200, color="black", zorder=3,
                       label="paper" if i == 0 else None)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xticks(range(len(datasets)), datasets, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def with_fvgpt(sweep):
    return [n for n in sweep.backbones if n in BACKBONES]


def write_tables(sweep, to):
    """Write table<N>.md/.csv/.png into ``to``; returns the table's name, its Markdown and the
    messages of runs whose result.json cannot be read."""
    found, unreadable = collect(sweep)
    os.makedirs(to, exist_ok=True)
    if sweep.protocol == "base2new":
        name, rows = "table1", table1(sweep, found)
        markdown, text = table1_markdown(rows), table1_csv(rows)
        hm = {(r["method"], r["dataset"]): r for r in rows}
        datasets = list(sweep.datasets)
        gains = {b: [_gain(hm[(b, d)], hm[(b + FVGPT, d)], "hm", "complete") for d in datasets]
                 for b in with_fvgpt(sweep)}
        published = {b: [_paper_gain(hm[(b, d)]["paper"], hm[(b + FVGPT, d)]["paper"], 2)
                         for d in datasets] for b in with_fvgpt(sweep)}
        title, ylabel = "Base-to-new: HM gain of FVG-PT", "HM(FVG-PT) − HM(backbone)"
    else:
        name, rows = "table2", table2(sweep, found)
        markdown, text = table2_markdown(sweep, rows), table2_csv(sweep, rows)
        by_method = {r["method"]: r for r in rows}
        datasets = [XD_SOURCE] + list(sweep.datasets)
        gains = {b: [by_method[b + FVGPT]["cells"][d][0] - by_method[b]["cells"][d][0]
                     if by_method[b]["cells"][d][2].complete
                     and by_method[b + FVGPT]["cells"][d][2].complete else math.nan
                     for d in datasets] for b in with_fvgpt(sweep)}
        published = {b: [_paper_gain(by_method[b]["paper"].get(d), by_method[b + FVGPT]["paper"].get(d))
                         for d in datasets] for b in with_fvgpt(sweep)}
        title, ylabel = "Cross-dataset: accuracy gain of FVG-PT", "accuracy(FVG-PT) − accuracy(backbone)"
    with open(os.path.join(to, name + ".md"), "w") as f:
        f.write(markdown)
    with open(os.path.join(to, name + ".csv"), "w") as f:
        f.write(text)
    if gains:
        gain_plot(os.path.join(to, name + ".png"), title, ylabel, datasets, gains, published)
    return name, markdown, unreadable


def _gain(backbone, with_fvgpt, key, complete):
    """with_fvgpt[key] - backbone[key] when both hold every seed (the same seeds), else NaN."""
    if not (backbone[complete] and with_fvgpt[complete]):
        return math.nan
    return with_fvgpt[key] - backbone[key]


def _paper_gain(backbone, with_fvgpt, index=None):
    if backbone is None or with_fvgpt is None:
        return None
    if index is not None:
        backbone, with_fvgpt = backbone[index], with_fvgpt[index]
    return with_fvgpt - backbone


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("output", help="the --output of python -m sweeps.run")
    parser.add_argument("--to", help="folder for table<N>.md/.csv/.png (default: the output)")
    args = parser.parse_args(argv)
    try:
        sweep = Sweep.load(args.output)
    except (FileNotFoundError, ValueError) as e:
        sys.exit(str(e))
    to = args.to or args.output
    name, markdown, unreadable = write_tables(sweep, to)
    print(markdown)
    print(f"Written to {os.path.join(to, name)}.md, .csv" + (", .png" if with_fvgpt(sweep) else ""))
    if unreadable:
        sys.exit(f"{len(unreadable)} run(s) counted as missing because their result.json cannot "
                 "be read:\n" + "\n".join(unreadable))


if __name__ == "__main__":
    main()
