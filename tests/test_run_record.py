"""``result.json``: the run record every trainer writes after its final test, and D_fg as the
opt-in of the trainers that measure it (every trainer of this repository does)."""
import json

from dassl.config import get_cfg_default

import fvgpt
from fvgpt.foreground_shift import ReportsForegroundShift
from fvgpt.run_record import RunRecord
from fvgpt.trainer import FVGPTTrainer
from trainers.coop import CoOp
from trainers.kgcoop import KgCoOp
from trainers.mmrl import MMRL
from trainers.promptsrc import PromptSRC
from trainers.zsclip import ZeroshotCLIP

BUILT_ON = {"clip_weights": {"name": "ViT-B/16", "sha256": None}}


class FinishedTrainer:
    """What the run record uses of a Dassl trainer: its config, evaluator, classes and test."""

    num_classes = 2

    def __init__(self, cfg):
        self.cfg = cfg
        self.evaluator = type("Evaluator", (), {})()
        self.evaluator.evaluate = lambda: {"accuracy": 75.0, "error_rate": 25.0, "macro_f1": 70.0}
        self._built_on = BUILT_ON

    def test(self, split=None):
        return self.evaluator.evaluate()


class Recorded(RunRecord, FinishedTrainer):
    """A trainer with a run record and nothing else."""


class RecordedWithShift(ReportsForegroundShift, Recorded):
    """The same trainer, reporting D_fg."""


def config(output_dir):
    cfg = get_cfg_default()
    fvgpt.add_config(cfg)
    cfg.merge_from_list(["OUTPUT_DIR", str(output_dir), "TRAINER.NAME", "Finished",
                         "DATASET.NAME", "FGWorld", "DATASET.NUM_SHOTS", 16, "SEED", 1])
    return cfg


def test_result_json_holds_the_final_test_and_the_run(tmp_path):
    Recorded(config(tmp_path)).test()
    assert json.loads((tmp_path / "result.json").read_text()) == {
        "accuracy": 75.0, "error": 25.0, "macro_f1": 70.0, "trainer": "Finished",
        "dataset": "FGWorld", "subsample_classes": "all", "seed": 1, "num_shots": 16,
        "num_classes": 2, "split": "test", "built_on": BUILT_ON}


def test_a_trainer_reporting_d_fg_writes_it_after_the_metrics(tmp_path):
    RecordedWithShift(config(tmp_path)).test()  # TEST.FOREGROUND_SHIFT_INDEX off: null
    result = json.loads((tmp_path / "result.json").read_text())
    assert list(result)[:5] == ["accuracy", "error", "macro_f1", "d_fg", "trainer"]
    assert result["d_fg"] is None


def test_every_trainer_of_the_repository_reports_d_fg():
    for trainer in (ZeroshotCLIP, CoOp, KgCoOp, PromptSRC, MMRL, FVGPTTrainer):
        assert issubclass(trainer, ReportsForegroundShift), trainer.__name__
