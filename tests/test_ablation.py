"""scripts/ablation.py end to end on a tiny setting: one seed, two variants, 2 shots, 1 epoch;
its runs (in one process, replayed) against the same runs as processes without replay."""
import glob
import json
import os
import sys

import pytest
import torch

from conftest import REPO_ROOT
from sweeps.ablation import select, variant_dir, variant_sweep
from sweeps.plan import run_of
from test_resume import run as run_py

sys.path.insert(0, os.path.join(REPO_ROOT, "scripts"))
import ablation  # noqa: E402


@pytest.fixture
def setting(world_root, small_clip, tmp_path):
    out = tmp_path / "ablation_runs"
    return ["--root", str(world_root), "--output", str(out / "ablation"),
            "--backbone-output", str(out / "backbones"), "--seeds", "1",
            "--variants", "full", "FRG -> r = 0",
            "--opts", "DATASET.NUM_SHOTS", "2", "OPTIM.MAX_EPOCH", "1",
            "MODEL.BACKBONE.NAME", small_clip], out


def test_ablation_table_over_variants_then_resume(setting, world_root, capsys):
    argv, out = setting
    rows = ablation.main(argv)
    assert [r["method"] for r in rows] == ["full", "FRG -> r = 0"]
    assert all(0 <= r["base"] <= 100 and 0 <= r["new"] <= 100 and r["seeds"] == 1 for r in rows)
    with open(out / "ablation" / "ablation.md") as f:
        table = f.read()
    assert "| FRG -> r = 0 |" in table and os.path.isfile(out / "ablation" / "ablation.csv")
    fixed_r = variant_dir(str(out / "ablation"), "FRG -> r = 0")
    log = read_log(fixed_r, "base")
    assert "FIXED_R: 0.0" in log  # the variant's switch reached its run
    # it trained on the backbone outputs the full model recorded (docs/replay.md)
    assert f"Replay cache: replaying epoch 1 from {out / 'ablation' / 'replay_cache'}" in log
    assert "Replay cache: replaying the evaluation pass test-pc" in read_log(
        variant_dir(str(out / "ablation"), "FRG -> r = 0"), "new")
    capsys.readouterr()
    assert ablation.main(argv) == rows  # a second call reads the finished runs
    # the CoOp backbone (looked up once per variant), then each variant's base and new runs
    assert capsys.readouterr().out.count("(done before)") == 2 + 2 * 2

    # The variant's runs as python train.py processes without the cache give the same numbers
    # and weights as those run in the ablation's process on the recording of "full".
    name, opts = "FRG -> r = 0", ["TRAINER.FVGPT.ABLATION.FIXED_R", "0.0"]
    alone = variant_sweep(str(world_root), str(out / "alone"), str(out / "backbones"), name, opts,
                          [1], opts=argv[argv.index("--opts") + 1:], replay_cache="")
    for split in ("base", "new"):
        run_py(run_of(alone, "FVGPT_CoOp", split, 1).command())
        assert measures(variant_dir(str(out / "alone"), name), split) == measures(fixed_r, split)
    states = [final_state(os.path.join(folder, "FVGPT_CoOp", "base", "seed1"))
              for folder in (variant_dir(str(out / "alone"), name), fixed_r)]
    assert states[0].keys() == states[1].keys()
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_runs_in_one_process_under_real_dassl(world_root, small_clip, tmp_path, real_dassl_env):
    """Real Dassl's logger, once per run in one process: each log.txt holds its own run, and a
    replayed variant's row equals the one its runs give as processes without replay."""
    out = tmp_path / "real_dassl"
    common = ["--root", str(world_root), "--backbone-output", str(out / "backbones"), "--seeds", "1"]
    opts = ["--opts", "DATASET.NUM_SHOTS", "2", "OPTIM.MAX_EPOCH", "1", "MODEL.BACKBONE.NAME", small_clip]
    script = [sys.executable, "scripts/ablation.py", *common]
    run_py([*script, "--output", str(out / "one"), "--variants", "full", "tau = 4", *opts],
           real_dassl_env)
    run_py([*script, "--output", str(out / "separate"), "--variants", "tau = 4", "--processes",
            "--replay-cache", "", *opts], real_dassl_env)
    rows = [read_row(out / folder / "ablation.csv", "tau = 4") for folder in ("one", "separate")]
    assert rows[0] == rows[1]
    full, tau = (read_log(variant_dir(str(out / "one"), name), "base") for name in ("full", "tau = 4"))
    assert "Dassl engine: real" in full and "Dassl engine: real" in tau
    assert "TAU: 4.0" in tau and "TAU: 4.0" not in full
    assert "Replay cache: replaying epoch 1" in tau and "Replay cache: replaying" not in full


def read_row(csv_path, method):
    with open(csv_path) as f:
        return next(line for line in f if line.startswith(method + ","))


def read_log(variant, split):
    with open(os.path.join(variant, "FVGPT_CoOp", split, "seed1", "log.txt")) as f:
        return f.read()


def measures(variant, split):
    with open(os.path.join(variant, "FVGPT_CoOp", split, "seed1", "result.json")) as f:
        result = json.load(f)
    return {k: result[k] for k in ("accuracy", "macro_f1", "d_fg", "num_classes")}


def final_state(run):
    [path] = glob.glob(os.path.join(run, "fvgpt_head", "model.pth.tar-*"))
    return torch.load(path, weights_only=False)["state_dict"]


def test_unknown_variant_is_named():
    with pytest.raises(ValueError, match="no such"):
        select(names=["no such"])
