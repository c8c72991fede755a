"""Read finished runs (their ``result.json``) and tabulate base-to-new results."""
import json
import math
import os

RESULT_FILE = "result.json"  # the done marker: written last by the trainer (fvgpt.run_record)


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


def summarise_worlds(per_world):
    """Rows over several worlds from ``{world: {method: [per-seed dicts]}}``.

    Each value is the mean over worlds of the per-world mean over training seeds;
    ``<key>_std`` is the standard deviation across worlds (of those per-world means) and
    ``<key>_seed_std`` the mean over worlds of the standard deviation across seeds.
    """
    per_world_rows = {w: {r["method"]: r for r in summarise(per_seed)}
                      for w, per_seed in per_world.items()}
    methods = list(next(iter(per_world.values())))
    rows = []
    for method in methods:
        found = [rows_w[method] for rows_w in per_world_rows.values()]
        row = {"method": method, "worlds": len(found), "seeds": found[0]["seeds"]}
        for key in ("base", "new", "hm", "d_fg"):
            means = [r[key] for r in found if not math.isnan(r[key])]
            row[key], row[key + "_std"] = mean_std(means) if means else (float("nan"),) * 2
            seed_stds = [r[key + "_std"] for r in found if not math.isnan(r[key])]
            row[key + "_seed_std"] = sum(seed_stds) / len(seed_stds) if seed_stds else float("nan")
        rows.append(row)
    return rows


def worlds_to_markdown(rows):
    """The table over worlds: each cell is mean ± std across worlds (± mean std across seeds)."""
    lines = ["| method | base | new | HM | D_fg (base test) |", "|---|---|---|---|---|"]
    for r in rows:
        cells = [f"{r[k]:.2f} ± {r[k + '_std']:.2f} ({r[k + '_seed_std']:.2f})"
                 for k in ("base", "new", "hm")]
        cells.append("n/a" if math.isnan(r["d_fg"]) else
                     f"{r['d_fg']:.3f} ± {r['d_fg_std']:.3f} ({r['d_fg_seed_std']:.3f})")
        lines.append(f"| {r['method']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def world_verdict(per_world, pairs):
    """Verdict lines over worlds: per ``(backbone, with_fvgpt)`` pair, the mean HM gap, in how
    many worlds FVG-PT is ahead, and whether the gap exceeds the spread across worlds (the
    two methods' across-world HM standard deviations added)."""
    rows = {r["method"]: r for r in summarise_worlds(per_world)}
    best = max(rows.values(), key=lambda r: r["hm"])
    lines = [f"Best HM over {best['worlds']} worlds: {best['method']} ({best['hm']:.2f})."]
    for backbone, with_fvgpt in pairs:
        a, b = rows[backbone], rows[with_fvgpt]
        gap, spread = b["hm"] - a["hm"], a["hm_std"] + b["hm_std"]
        ahead = sum(_world_mean(seeds[with_fvgpt], "hm") > _world_mean(seeds[backbone], "hm")
                    for seeds in per_world.values())
        winner, loser = (with_fvgpt, backbone) if gap > 0 else (backbone, with_fvgpt)
        lines.append(
            f"{winner} beats {loser} on HM by {abs(gap):.2f} points ({b['hm']:.2f} vs "
            f"{a['hm']:.2f}; FVG-PT ahead in {ahead} of {len(per_world)} worlds); "
            + ("beyond" if abs(gap) > spread else "within")
            + f" the spread across worlds (std {a['hm_std']:.2f} + {b['hm_std']:.2f})"
            + ("." if abs(gap) > spread else ", so not a clear difference."))
    return lines


def held_out_check(per_world, held_out, pairs):
    """Lines saying, per pair, whether the HM gap (with FVG-PT minus without) in each world of
    ``held_out`` (worlds not used for the verdict) lies within the verdict's stated spread:
    the mean gap over ``per_world`` ± the two methods' HM std across those worlds added."""
    rows = {r["method"]: r for r in summarise_worlds(per_world)}
    lines = []
    for backbone, with_fvgpt in pairs:
        a, b = rows[backbone], rows[with_fvgpt]
        gap, spread = b["hm"] - a["hm"], a["hm_std"] + b["hm_std"]
        for world, seeds in held_out.items():
            found = _world_mean(seeds[with_fvgpt], "hm") - _world_mean(seeds[backbone], "hm")
            inside = abs(found - gap) <= spread
            lines.append(f"{with_fvgpt} - {backbone}, held-out world {world}: HM gap {found:+.2f}; "
                         f"verdict {gap:+.2f} ± {spread:.2f}: "
                         + ("inside the stated spread." if inside else "OUTSIDE the stated spread."))
    return lines


def paper_claims(per_world, pairs, zero_shot):
    """Per backbone, in how many worlds each of the paper's claims holds: FVG-PT raises base,
    new and HM, and D_fg falls in the paper's Fig. 5 order (CLIP > backbone > + FVG-PT)."""
    lines = []
    for backbone, with_fvgpt in pairs:
        held = {"base": 0, "new": 0, "HM": 0, "D_fg order": 0}
        for seeds in per_world.values():
            m = {name: {k: _world_mean(seeds[name], k) for k in ("base", "new", "hm", "d_fg")}
                 for name in (zero_shot, backbone, with_fvgpt)}
            held["base"] += m[with_fvgpt]["base"] > m[backbone]["base"]
            held["new"] += m[with_fvgpt]["new"] > m[backbone]["new"]
            held["HM"] += m[with_fvgpt]["hm"] > m[backbone]["hm"]
            held["D_fg order"] += m[zero_shot]["d_fg"] > m[backbone]["d_fg"] > m[with_fvgpt]["d_fg"]
        lines.append(f"{with_fvgpt} vs {backbone}: " + ", ".join(
            f"{claim} {n}/{len(per_world)}" for claim, n in held.items()))
    return lines


def _world_mean(seeds, key):
    """One world's mean over training seeds of base, new, hm (per seed) or d_fg."""
    if key == "hm":
        values = [harmonic_mean(s["base"], s["new"]) for s in seeds]
    else:
        values = [s[key] for s in seeds if s[key] is not None]
    return sum(values) / len(values) if values else float("nan")


def d_fg_plot(rows, path, title, spread="std over training seeds"):
    """Two panels: D_fg per method (paper Fig. 5; lower = the prediction rests more on the
    foreground) and base / new / HM accuracy per method, error bars the given ``spread``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["method"] for r in rows]
    xs = range(len(rows))
    fig, (shift, accuracy) = plt.subplots(1, 2, figsize=(4.0 + 1.3 * len(rows), 4.4))
    measured = [(x, r) for x, r in zip(xs, rows) if not math.isnan(r["d_fg"])]
    shift.bar([x for x, _ in measured], [r["d_fg"] for _, r in measured],
              yerr=[r["d_fg_std"] for _, r in measured], color="tab:blue", capsize=3)
    shift.set_ylabel("D_fg = KL(p_full || p_fg), base test")
    shift.set_title("Foreground shift index D_fg\n(lower: prediction rests more on the foreground)",
                    fontsize=9)
    width = 0.27
    for i, (key, label, colour) in enumerate((("base", "base", "tab:green"),
                                              ("new", "new", "tab:orange"),
                                              ("hm", "HM", "tab:purple"))):
        accuracy.bar([x + (i - 1) * width for x in xs], [r[key] for r in rows], width,
                     yerr=[r[key + "_std"] for r in rows], capsize=2, color=colour, label=label)
    accuracy.set_ylim(0, 100)
    accuracy.set_ylabel("test accuracy (%)")
    accuracy.set_title("Accuracy (higher is better)", fontsize=9)
    accuracy.legend(fontsize=8, loc="lower right")
    for ax in (shift, accuracy):
        ax.set_xticks(list(xs), names, rotation=35, ha="right", fontsize=8)
    fig.suptitle(f"{title}\nbars: mean; error bars: {spread}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
