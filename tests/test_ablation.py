"""scripts/ablation.py end to end on a tiny setting: one seed, two variants, 2 shots, 1 epoch."""
import os
import sys

import pytest

from conftest import REPO_ROOT
from sweeps.ablation import select, variant_dir

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


def test_ablation_table_over_variants_then_resume(setting, capsys):
    argv, out = setting
    rows = ablation.main(argv)
    assert [r["method"] for r in rows] == ["full", "FRG -> r = 0"]
    assert all(0 <= r["base"] <= 100 and 0 <= r["new"] <= 100 and r["seeds"] == 1 for r in rows)
    with open(out / "ablation" / "ablation.md") as f:
        table = f.read()
    assert "| FRG -> r = 0 |" in table and os.path.isfile(out / "ablation" / "ablation.csv")
    fixed_r_log = variant_dir(str(out / "ablation"), "FRG -> r = 0")
    with open(os.path.join(fixed_r_log, "FVGPT_CoOp", "base", "seed1", "log.txt")) as f:
        log = f.read()
    assert "FIXED_R: 0.0" in log  # the variant's switch reached its run
    # it trained on the backbone outputs the full model recorded (docs/replay.md)
    assert f"Replay cache: replaying epoch 1 from {out / 'ablation' / 'replay_cache'}" in log
    capsys.readouterr()
    assert ablation.main(argv) == rows  # a second call reads the finished runs
    # the CoOp backbone (looked up once per variant), then each variant's base and new runs
    assert capsys.readouterr().out.count("(done before)") == 2 + 2 * 2


def test_unknown_variant_is_named():
    with pytest.raises(ValueError, match="no such"):
        select(names=["no such"])
