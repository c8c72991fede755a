"""A run's record, for any Dassl trainer: its folder, what it is built on, ``result.json``.

``RunRecord`` goes in front of Dassl's ``TrainerX``. Before training it refuses ``--resume``
from another folder and checks and locks the run folder (``fvgpt.run_folder``); a folder
that holds a finished run with the same settings is not trained again. After the final
test it writes ``<output>/result.json`` (atomically, while it holds the folder's lock): the
test's accuracy, error and macro-F1, the measures a trainer adds (``result_measures``), the
run's trainer, data set, classes, seed and shots, and ``built_on``, what the run is built
on (``fvgpt.built_on``), which checkpoints record too.
"""
import json
import os

from . import built_on, run_folder
from .checkpoints import atomic_write_text
from .results import RESULT_FILE
from .training_images import training_images


class RunRecord:
    """Mixin for a Dassl trainer (put it before ``TrainerX``); see the module docstring."""

    def __init__(self, cfg):
        super().__init__(cfg)
        self.last_results = None
        evaluate = self.evaluator.evaluate

        def evaluate_and_keep():
            self.last_results = evaluate()
            return self.last_results

        self.evaluator.evaluate = evaluate_and_keep

    def check_inputs(self):
        """Checks of the inputs that can fail, run before the run claims its folder
        (``train.py``); subclasses add their own."""

    def built_on(self):
        """What this run is built on (``fvgpt.built_on``); subclasses add their parts."""
        if getattr(self, "_built_on", None) is None:
            try:
                weights = built_on.clip_weights(self.cfg)
            except FileNotFoundError:  # a trainer whose backbone is not a CLIP file
                weights = {"name": self.cfg.MODEL.BACKBONE.NAME, "sha256": None}
            images = training_images(self.cfg, self.dm.dataset)
            self._built_on = {
                "clip_weights": weights,
                "training_images": {"name": f"{images['n_images']} images of {images['dataset']}",
                                    "sha256": images["sha256"],
                                    "shots_per_class": images["shots_per_class"]}}
        return self._built_on

    def train(self):
        """Train, unless the output folder holds a finished run with the same settings."""
        run_folder.check_resume_folder(self.cfg.RESUME, self.cfg.OUTPUT_DIR)
        if run_folder.prepare(self.cfg.OUTPUT_DIR, run_folder.run_settings(self.cfg)):
            return
        super().train()

    def test(self, split=None):
        """Dassl's test; the final test (``split`` None) also writes ``result.json``."""
        result = super().test(split)
        if split is None:
            self.write_result()
        return result

    def result_measures(self):
        """Measures of the final test beyond Dassl's metrics, ``{key: value}`` in
        ``result.json`` (none here; a trainer that measures more extends it)."""
        return {}

    def write_result(self):
        """Write ``<output>/result.json`` (atomically): the final test's numbers and the run."""
        cfg, metrics = self.cfg, self.last_results
        result = {"accuracy": metrics.get("accuracy"), "error": metrics.get("error_rate"),
                  "macro_f1": metrics.get("macro_f1"), **self.result_measures(),
                  "trainer": cfg.TRAINER.NAME, "dataset": cfg.DATASET.NAME,
                  "subsample_classes": cfg.DATASET.get("SUBSAMPLE_CLASSES", "all"),
                  "seed": cfg.SEED, "num_shots": cfg.DATASET.NUM_SHOTS,
                  "num_classes": self.num_classes, "split": cfg.TEST.SPLIT,
                  built_on.KEY: self.built_on()}
        os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
        path = os.path.join(cfg.OUTPUT_DIR, RESULT_FILE)
        run_folder.check_owner(cfg.OUTPUT_DIR, path)
        atomic_write_text(path, json.dumps(result, indent=2) + "\n")
        print(f"Result written to {path}")
