"""scripts/world_diagnosis.py end to end on a tiny setting: CoOp and CoOp + FVG-PT, one seed."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
import world_diagnosis  # noqa: E402
from sweeps.diagnosis import COLUMNS  # noqa: E402


def test_diagnosis_scores_held_out_training_images_and_test(world_root, small_clip, main_job_output):
    """The diagnosis table of CoOp and CoOp + FVG-PT, from the main job's base runs (trained
    here if missing; ``main_job_output`` is shared with the regime checks)."""
    out = main_job_output
    rows = world_diagnosis.main(["--root", str(world_root), "--output", str(out), "--seeds", "1",
                                 "--backbones", "CoOp", "--opts", "DATASET.NUM_SHOTS", "2",
                                 "OPTIM.MAX_EPOCH", "1", "MODEL.BACKBONE.NAME", small_clip])
    (row,) = rows["CoOp"]
    assert set(row) == {key for key, _ in COLUMNS}
    assert all(0 <= v <= 100 for v in row.values())
    with open(out / "diagnosis.md") as f:
        assert "| CoOp |" in f.read()
    for run in ("CoOp", "FVGPT_CoOp"):  # the main job's runs, trained if missing
        assert os.path.isfile(out / run / "base" / "seed1" / "result.json")
