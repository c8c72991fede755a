"""Read the numbers a train.py run left in its output folder, and tabulate base-to-new results."""
import glob
import json
import math
import os
import re

ACCURACY = re.compile(r"^\* accuracy: ([\d.]+)%", re.M)
FOREGROUND_SHIFT = re.compile(r"^\* foreground shift index D_fg: ([\d.]+)", re.M)
DONE_MARKER = "result.json"  # written last by the trainer after its final evaluation


def read_run(output_dir):
    """{"accuracy", "d_fg" (or None), "source"} of a finished run.

    The done marker ``output_dir/result.json`` is read when present; otherwise, for runs
    made without it, the last ``* accuracy`` (and D_fg) line of the newest log (Dassl names
    a restarted run's log ``log.txt-<time>``). ``source``: "result.json" or "log.txt". Raises
    FileNotFoundError or ValueError when the run has not finished.
    """
    marker = os.path.join(output_dir, DONE_MARKER)
    if os.path.isfile(marker):
        with open(marker) as f:
            result = json.load(f)
        return {"accuracy": float(result["accuracy"]), "d_fg": result.get("d_fg"),
                "source": DONE_MARKER}
    logs = glob.glob(os.path.join(output_dir, "log.txt*"))
    if not logs:
        raise FileNotFoundError(f"No {DONE_MARKER} or log.txt in {output_dir}")
    path = max(logs, key=os.path.getmtime)
    with open(path) as f:
        text = f.read()
    accuracies = ACCURACY.findall(text)
    if not accuracies:
        raise ValueError(f"No '* accuracy' line in {path}: did the run finish its test?")
    shifts = FOREGROUND_SHIFT.findall(text)
    return {"accuracy": float(accuracies[-1]), "d_fg": float(shifts[-1]) if shifts else None,
            "source": "log.txt"}


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
        cells.append(f"{r['d_fg']:.4f} ± {r['d_fg_std']:.4f}")
        lines.append(f"| {r['method']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(rows):
    keys = ["method", "seeds", "base", "base_std", "new", "new_std", "hm", "hm_std", "d_fg", "d_fg_std"]
    lines = [",".join(keys)]
    for r in rows:
        lines.append(",".join(str(r[k]) if k in ("method", "seeds") else f"{r[k]:.4f}" for k in keys))
    return "\n".join(lines) + "\n"
