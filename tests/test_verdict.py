"""The main job's numbers over several worlds: table, claims, verdict and plots (fvgpt.results),
and the README's FG-World block, which must be what the job prints from the committed summary."""
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

from conftest import REPO_ROOT
from fvgpt.attention_maps import save_grid
from fvgpt.results import d_fg_plot, held_out_check, paper_claims, summarise_worlds, world_verdict
from sweeps import world
from sweeps.watch import REGIME_COST, Progress

SUMMARY = os.path.join(REPO_ROOT, "docs", "fg_world", "summary.json")
README_START, README_END = "<!-- fg-world-report: start -->", "<!-- fg-world-report: end -->"


def seeds(*base_new_dfg):
    return [{"base": b, "new": n, "d_fg": d} for b, n, d in base_new_dfg]


def two_worlds(coop_new, fvgpt_new):
    """CLIP, CoOp and CoOp + FVG-PT in two worlds; base 80 everywhere, new as given per world."""
    return {w: {"CLIP": seeds((60, 70, 0.3)),
                "CoOp": seeds((80, coop_new[w], 0.2), (80, coop_new[w], 0.2)),
                "CoOp + FVG-PT": seeds((80, fvgpt_new[w] - 1, 0.1), (80, fvgpt_new[w] + 1, 0.1))}
            for w in range(2)}


def test_the_spread_across_worlds_and_across_seeds_are_kept_apart():
    rows = {r["method"]: r for r in summarise_worlds(two_worlds([60, 64], [70, 70]))}
    fvgpt = rows["CoOp + FVG-PT"]
    assert (fvgpt["worlds"], fvgpt["seeds"]) == (2, 2)
    assert abs(fvgpt["new"] - 70) < 1e-9 and fvgpt["new_std"] < 1e-9  # same mean in both worlds
    assert abs(fvgpt["new_seed_std"] - 1) < 1e-9  # 69 and 71 within each world
    assert abs(rows["CoOp"]["new_std"] - 2) < 1e-9 and rows["CoOp"]["new_seed_std"] == 0


def test_a_gap_larger_than_the_spread_across_worlds_is_called_beyond_it():
    best, coop = world_verdict(two_worlds([60, 61], [70, 71]), [("CoOp", "CoOp + FVG-PT")])
    assert best.startswith("Best HM over 2 worlds: CoOp + FVG-PT (")
    assert coop.startswith("CoOp + FVG-PT beats CoOp on HM by ")
    assert "FVG-PT ahead in 2 of 2 worlds" in coop and "beyond the spread across worlds" in coop


def test_a_gap_inside_the_spread_across_worlds_is_not_called_a_difference():
    _, line = world_verdict(two_worlds([60, 72], [70, 64]), [("CoOp", "CoOp + FVG-PT")])
    assert "FVG-PT ahead in 1 of 2 worlds" in line and "within the spread across worlds" in line


def test_claims_count_the_worlds_where_each_holds():
    (line,) = paper_claims(two_worlds([60, 72], [70, 64]), [("CoOp", "CoOp + FVG-PT")], "CLIP")
    assert line == "CoOp + FVG-PT vs CoOp: base 0/2, new 1/2, HM 1/2, D_fg order 2/2"


def test_eta_counts_each_run_once_and_never_goes_negative():
    progress = Progress(["CoOp"], [1], splits=("base",), regime=True)
    total = progress.left
    progress.finish("coop-base", 11)
    progress.skip("coop-base", 11)  # the table meets the regime checks' run again
    progress.finish(("regime", 1), REGIME_COST)
    assert progress.left == total - 11 - REGIME_COST == 0
    assert progress.eta().endswith("s left") and not progress.eta().startswith("about -")


def test_eta_waits_for_a_first_finished_run():
    """Part of a first run is mostly process start-up: no estimate from it (it once said 578 min
    for a 12-min job)."""
    progress = Progress(["CoOp"], [1, 2, 3])
    assert progress.eta(in_run=0.3) == "estimating"
    progress.finish("coop-base-1", 11)
    assert progress.eta(in_run=0.3).startswith("about ")


def test_d_fg_plot_and_attention_grid_are_labelled_pngs(tmp_path):
    rows = summarise_worlds(two_worlds([60, 64], [70, 70]))
    d_fg_plot(rows, tmp_path / "d_fg.png", "title", spread="std across worlds")
    tile = np.zeros((8, 8, 3), np.uint8)
    save_grid(tmp_path / "grid.png", [[tile, tile], [tile]], ["image", "mask"],
              ["row 1", "row 2"], [["", "right: a"], [""]])
    for name in ("d_fg.png", "grid.png"):
        with Image.open(tmp_path / name) as image:
            assert image.format == "PNG" and image.width > 200


def test_readme_report_is_what_the_job_prints_from_the_committed_summary():
    with open(SUMMARY) as f:
        summary = json.load(f)
    with open(os.path.join(REPO_ROOT, "README.md")) as f:
        readme = f.read()
    block = readme.split(README_START)[1].split(README_END)[0]
    assert block.strip() == world.report(summary).strip()


def test_the_job_prints_the_readme_block_from_the_committed_summary(tmp_path):
    """scripts/world_benchmark.py, the command itself, from the summary (no training)."""
    done = subprocess.run([sys.executable, "scripts/world_benchmark.py", "--from-summary", SUMMARY,
                           "--output", str(tmp_path)], cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(os.path.join(REPO_ROOT, "README.md")) as f:
        block = f.read().split(README_START)[1].split(README_END)[0]
    assert block.strip() in done.stdout


def test_a_held_out_world_is_checked_against_the_verdicts_stated_spread():
    grid = two_worlds([60, 61], [70, 71])
    close, far = two_worlds([60, 60], [70, 50]).values()
    inside, outside = held_out_check(grid, {"7": close, "8": far}, [("CoOp", "CoOp + FVG-PT")])
    assert inside.startswith("CoOp + FVG-PT - CoOp, held-out world 7: HM gap +")
    assert inside.endswith("inside the stated spread.") and outside.endswith("OUTSIDE the stated spread.")
