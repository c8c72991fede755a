"""The regime checks (a)-(d) of sweeps/regime.py, on hand-made per-image measurements, and
scripts/world_regime.py end to end."""
import os
import sys

import torch

from conftest import REPO_ROOT
from sweeps import regime
from sweeps.plan import ZERO_SHOT, world_sweep

sys.path.insert(0, os.path.join(REPO_ROOT, "scripts"))
import world_regime  # noqa: E402


def stats(acc_full, acc_fg, d_fg, r_exact, r_bad):
    """One (method, classes) entry: 10 exact-mask images and 10 shifted/empty ones."""
    outcomes = ["exact"] * 10 + ["shifted"] * 5 + ["empty"] * 5
    r_star = torch.tensor([i < 10 * r_exact for i in range(10)]
                          + [i < 10 * r_bad for i in range(10)])
    return {"acc_full": acc_full, "acc_fg": acc_fg, "d_fg": d_fg, "r_star": r_star,
            "fg_only_right": max(0.0, acc_fg - acc_full),
            "outcomes": outcomes,
            "r_star_by_outcome": {"exact": r_star[:10].tolist(), "shifted": r_star[10:15].tolist(),
                                  "empty": r_star[15:].tolist()}}


def seed(coop_base=80.0, coop_new=70.0, coop_fg=85.0, coop_d=0.1, r_bad=0.1):
    return {("ZeroshotCLIP", "base"): stats(70.0, 71.0, 0.2, 0.6, 0.1),
            ("ZeroshotCLIP", "new"): stats(75.0, 74.0, 0.1, 0.6, 0.1),
            ("CoOp", "base"): stats(coop_base, coop_fg, coop_d, 0.7, r_bad),
            ("CoOp", "new"): stats(coop_new, 72.0, 0.1, 0.7, r_bad)}


def holds(per_seed):
    return [ok for _, ok, _ in regime.summarise(per_seed)[1]]


def test_all_four_hold_in_the_papers_regime():
    numbers, checks = regime.summarise([seed(), seed(coop_base=82.0)])
    assert [ok for _, ok, _ in checks] == [True] * 4
    assert numbers["CoOp base acc_full"] == (81.0, 1.0)
    assert "+11.00 points" in checks[0][2]
    assert "exact 50.0 %" in checks[3][2] and "0.70 vs shifted/empty 0.10" in checks[3][2]


def test_each_check_fails_on_its_own():
    assert holds([seed(coop_base=74.0)]) == [False, True, True, True]  # gain 4 < 5 points
    assert holds([seed(coop_new=76.0)]) == [True, False, True, True]  # no base-new trade-off
    assert holds([seed(coop_fg=79.0)]) == [True, True, False, True]  # foreground view not better
    assert holds([seed(coop_fg=81.0)]) == [True, True, False, True]  # better by less than 2 points
    assert holds([seed(coop_d=0.3)]) == [True, True, False, True]  # D_fg rises from CLIP to CoOp
    assert holds([seed(r_bad=0.6)]) == [True, True, True, False]  # r* blind to mask quality


def test_regime_checks_end_to_end_on_a_tiny_setting(world_root, small_clip, main_job_output, capsys):
    """Checks (a)-(d) on the main job's CoOp base run (trained here if missing; the output
    folder is shared with the diagnosis)."""
    out = main_job_output
    argv = ["--root", str(world_root), "--output", str(out), "--seeds", "1",
            "--opts", "DATASET.NUM_SHOTS", "2", "OPTIM.MAX_EPOCH", "1",
            "MODEL.BACKBONE.NAME", small_clip]
    checks = world_regime.main(argv)
    assert [name[:3] for name, _, _ in checks] == ["(a)", "(b)", "(c)", "(d)"]
    assert all(isinstance(ok, bool) for _, ok, _ in checks)
    printed = capsys.readouterr().out
    assert "CoOp            base seed 1: trained" in printed  # its test accuracy is not shown
    with open(out / "regime.md") as f:
        table = f.read()
    assert "| ZeroshotCLIP | base |" in table and "| (d) segmenter masks |" in table
    assert os.path.isfile(out / "CoOp" / "base" / "seed1" / "result.json")  # the main job's run


def test_regime_checks_of_a_job_without_coop_still_train_and_use_coop(world_root, small_clip,
                                                                      main_job_output):
    """The main job with --backbones PromptSRC: its regime checks still need CoOp's base run."""
    sweep = world_sweep(str(world_root), str(main_job_output), 0, [ZERO_SHOT, "PromptSRC"], [1],
                        opts=["DATASET.NUM_SHOTS", "2", "OPTIM.MAX_EPOCH", "1",
                              "MODEL.BACKBONE.NAME", small_clip])
    checks = regime.check_regime(sweep)
    assert [name[:3] for name, _, _ in checks] == ["(a)", "(b)", "(c)", "(d)"]
    assert os.path.isfile(main_job_output / "CoOp" / "base" / "seed1" / "result.json")
