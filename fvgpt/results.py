"""Read finished runs (their ``result.json``) and tabulate base-to-new results."""
import json
import math
import os

RESULT_FILE = "result.json"  # the done marker: written last by the trainer (fvgpt.resume)


class RunNotFinished(Exception):
    """A run folder without a readable ``result.json``; the message says why."""


def read_run(output_dir):
    """The ``result.json`` of a finished run (accuracy, macro_f1, d_fg, trainer, ...)."""
    path = os.path.join(output_dir, RESULT_FILE)
    if not os.path.isdir(output_dir):
        raise RunNotFinished(f"{output_dir}: no such run folder (not run yet)")
    if not os.path.isfile(path):
        logs = sorted(f for f in os.listdir(output_dir) if f.startswith("log.txt"))
        hint = f"; see {os.path.join(output_dir, logs[-1])}" if logs else ""
        raise RunNotFinished(f"{output_dir}: no {RESULT_FILE} (unfinished or failed{hint})")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise RunNotFinished(f"{path} is unreadable ({err})") from None


def harmonic_mean(base, new):
    """HM = 2 B N / (B + N)."""
    return 2 * base * new / (base + new) if base + new > 0 else 0.0


def mean_std(values):
    """Mean and population standard deviation."""
    m = sum(values) / len(values)
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / len(values))


def summarise(per_seed):
    """Rows of the paper's table from ``{method: [{"base", "new", "d_fg"}, ...]}`` (one per seed).

    HM is taken per seed and averaged, as are base and new.
    """
    rows = []
    for method, seeds in per_seed.items():
        row = {"method": method, "seeds": len(seeds)}
        hm = [harmonic_mean(s["base"], s["new"]) for s in seeds]
        for key, values in (("base", [s["base"] for s in seeds]),
                            ("new", [s["new"] for s in seeds]), ("hm", hm),
                            ("d_fg", [s["d_fg"] for s in seeds if s["d_fg"] is not None])):
            row[key], row[key + "_std"] = mean_std(values) if values else (float("nan"),) * 2
        rows.append(row)
    return rows


def to_markdown(rows):
    """The table in the paper's format: base / new / HM (mean ± std over seeds) and D_fg."""
    lines = ["| method | base | new | HM | D_fg (base test) |", "|---|---|---|---|---|"]
    for r in rows:
        cells = [f"{r[k]:.2f} ± {r[k + '_std']:.2f}" for k in ("base", "new", "hm")]
        no_d_fg = math.isnan(r["d_fg"])  # no run of this method measured it
        cells.append("n/a" if no_d_fg else f"{r['d_fg']:.4f} ± {r['d_fg_std']:.4f}")
        lines.append(f"| {r['method']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(rows):
    keys = ["method", "seeds", "base", "base_std", "new", "new_std", "hm", "hm_std", "d_fg", "d_fg_std"]
    lines = [",".join(keys)]
    for r in rows:
        lines.append(",".join(str(r[k]) if k in ("method", "seeds") else
                              "" if math.isnan(r[k]) else f"{r[k]:.4f}" for k in keys))
    return "\n".join(lines) + "\n"


def write_table(rows, folder, stem, title):
    """Write ``<folder>/<stem>.md`` and ``.csv``, and print the title and the Markdown table."""
    os.makedirs(folder, exist_ok=True)
    for ext, text in (("md", to_markdown(rows)), ("csv", to_csv(rows))):
        with open(os.path.join(folder, f"{stem}.{ext}"), "w") as f:
            f.write(text)
    print(f"\n{title}:\n\n{to_markdown(rows)}")
    print(f"Written to {folder}/{stem}.md and {stem}.csv")


def verdict(per_seed, pairs):
    """Lines saying which method has the best HM and, for each ``(backbone, with_fvgpt)`` pair of
    ``per_seed`` keys, which wins HM, by how much, and whether the gap exceeds the seed spread.

    The gap exceeds the seed spread when it is larger than the two methods' HM standard
    deviations added (their mean ± std intervals do not overlap).
    """
    rows = {r["method"]: r for r in summarise(per_seed)}
    best = max(rows.values(), key=lambda r: r["hm"])
    lines = [f"Best HM: {best['method']} ({best['hm']:.2f})."]
    for backbone, with_fvgpt in pairs:
        a, b = rows[backbone], rows[with_fvgpt]
        gap, spread = b["hm"] - a["hm"], a["hm_std"] + b["hm_std"]
        wins = sum(harmonic_mean(s["base"], s["new"]) > harmonic_mean(t["base"], t["new"])
                   for s, t in zip(per_seed[with_fvgpt], per_seed[backbone]))
        winner, loser = (with_fvgpt, backbone) if gap > 0 else (backbone, with_fvgpt)
        lines.append(
            f"{winner} beats {loser} on HM by {abs(gap):.2f} points "
            f"({b['hm']:.2f} vs {a['hm']:.2f}; FVG-PT ahead in {wins} of {len(per_seed[backbone])} "
            f"seeds); " + (f"beyond the seed spread (std {a['hm_std']:.2f} + {b['hm_std']:.2f})."
                           if abs(gap) > spread else
                           f"within the seed spread (std {a['hm_std']:.2f} + {b['hm_std']:.2f}), "
                           "so not a clear difference."))
    return lines


def d_fg_plot(rows, path, title):
    """Bars of D_fg (mean ± std) per method with base accuracy on a second axis (paper Fig. 5)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if not math.isnan(r["d_fg"])]
    xs = range(len(rows))
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * len(rows), 3.8))
    ax.bar(xs, [r["d_fg"] for r in rows], yerr=[r["d_fg_std"] for r in rows], color="tab:blue",
           capsize=3, label="D_fg (base test)")
    ax.set_ylabel("D_fg = KL(p_full || p_fg)")
    accuracy = ax.twinx()
    accuracy.errorbar(xs, [r["base"] for r in rows], yerr=[r["base_std"] for r in rows],
                      fmt="o", color="tab:red", capsize=3, label="base accuracy")
    accuracy.set_ylabel("base accuracy (%)")
    ax.set_xticks(list(xs), [r["method"] for r in rows], rotation=35, ha="right")
    ax.set_title(title)
    handles = [h for a in (ax, accuracy) for h in a.get_legend_handles_labels()[0]]
    ax.legend(handles, [h.get_label() for h in handles], loc="upper center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
