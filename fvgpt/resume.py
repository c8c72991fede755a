"""Exact resume, atomic checkpoints and the ``result.json`` done marker, for any Dassl trainer.

``ResumableTrainerX`` is Dassl's ``TrainerX`` plus ``ExactResume``; every trainer of this
project (backbones and FVG-PT) derives from it. Checkpoints keep Dassl's layout and keys
(``<output>/<model>/model.pth.tar-<epoch>``, the ``checkpoint`` pointer file,
``model-best.pth.tar``) and gain three keys of their own:

- ``rng_state``: Python, NumPy, torch and CUDA random-number states,
- ``sampler_state``: the position in the data stream (epoch, batch) and the states of
  any generator a training loader or sampler owns,
- ``trainer_state``: the trainer's other running values (best val result, ...),
- ``built_on``: what the run is built on (CLIP weights and training-data hashes, see
  ``fvgpt.built_on``); resuming refuses a checkpoint built on anything else.

Checkpoints sit on epoch boundaries. At the end of every epoch a small run (all models'
state under ``RESUME_CHECKPOINT_MAX_BYTES``) also writes ``<output>/<model>/resume.pth.tar``,
so a run killed at any point and started again with the same command resumes from the
last finished epoch and ends with the same weights and numbers, bit for bit, as a run
that was never interrupted. A batch order is drawn from torch's random state when an
epoch's loader iterator is created, so restoring the states restores the sampler too.
Every file is written to a temporary name and renamed, so a kill while saving leaves the
previous checkpoint intact.

The same base class checks and locks the run folder before training (``fvgpt.run_folder``),
refuses ``--resume`` from another folder, writes only while it holds the folder's lock,
writes ``result.json`` (with ``built_on``) after the final test, and builds the data loaders with a wrapper that
names a missing or damaged image (``fvgpt.images``).
"""
import json
import os
import random
import shutil

import numpy as np
import torch
from torch.optim.lr_scheduler import LRScheduler

from dassl.data import DataManager
from dassl.engine import TrainerX

from . import built_on, run_folder
from .checkpoints import atomic_write, atomic_write_text, read_checkpoint
from .foreground_shift import foreground_shift_index
from .images import ImageDatasetWrapper
from .results import RESULT_FILE
from .training_images import training_images

RESUME_FILE = "resume.pth.tar"
RESUME_CHECKPOINT_MAX_BYTES = 256 * 2 ** 20
TRAIN_LOADERS = ("train_loader_x", "train_loader_u")


def rng_state():
    """Python, NumPy, torch (and CUDA, when present) random-number states."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state):
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def load_scheduler_state(scheduler, state):
    """Load a scheduler state, with a warm-up scheduler's ``successor`` loaded in place.

    Dassl's warm-up schedulers save their successor as a pickled object; loading it as is
    would replace the live successor with one stepping a copy of the optimizer.
    """
    state = dict(state)
    successor = state.pop("successor", None)
    if successor is not None:
        if isinstance(successor, LRScheduler):
            successor = successor.state_dict()
        load_scheduler_state(scheduler.successor, successor)
    LRScheduler.load_state_dict(scheduler, state)


def state_nbytes(obj):
    """Bytes of the tensors in a (nested) state dict."""
    if torch.is_tensor(obj):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(state_nbytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(state_nbytes(v) for v in obj)
    return 0


class ExactResume:
    """Mixin for a Dassl trainer (put it before ``TrainerX``); see the module docstring.

    A trainer with running values beyond models, optimizers and schedulers extends
    ``trainer_state`` / ``load_trainer_state``.
    """

    def __init__(self, cfg):
        super().__init__(cfg)
        self.last_results = None
        evaluate = self.evaluator.evaluate

        def evaluate_and_keep():
            self.last_results = evaluate()
            return self.last_results

        self.evaluator.evaluate = evaluate_and_keep

    dataset_wrapper = ImageDatasetWrapper  # names a missing or damaged image and the fix

    def build_data_loader(self):
        """Dassl's data loaders, built with ``self.dataset_wrapper``."""
        dm = DataManager(self.cfg, dataset_wrapper=self.dataset_wrapper)
        self.train_loader_x, self.train_loader_u = dm.train_loader_x, dm.train_loader_u
        self.val_loader, self.test_loader = dm.val_loader, dm.test_loader
        self.num_classes, self.num_source_domains = dm.num_classes, dm.num_source_domains
        self.lab2cname, self.dm = dm.lab2cname, dm

    def check_inputs(self):
        """Checks of the inputs that can fail, run before the run claims its folder
        (``train.py``); subclasses add their own."""

    # ---- what a checkpoint holds beyond Dassl's keys
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

    def trainer_state(self):
        return {"best_result": self.best_result}

    def load_trainer_state(self, state):
        self.best_result = state["best_result"]

    def _train_loaders(self):
        return {name: getattr(self, name) for name in TRAIN_LOADERS
                if getattr(self, name, None) is not None}

    def sampler_state(self, epoch):
        """Data-stream position: start of ``epoch``; plus states of loader-owned generators."""
        generators = {}
        for name, loader in self._train_loaders().items():
            for owner, key in ((loader, "loader"), (loader.sampler, "sampler")):
                generator = getattr(owner, "generator", None)
                if generator is not None:
                    generators[f"{name}.{key}"] = generator.get_state()
        return {"epoch": epoch, "batch": 0, "generators": generators}

    def load_sampler_state(self, state):
        for name, loader in self._train_loaders().items():
            for owner, key in ((loader, "loader"), (loader.sampler, "sampler")):
                saved = state["generators"].get(f"{name}.{key}")
                if saved is not None:
                    owner.generator.set_state(saved)

    # ---- saving
    def checkpoint_extras(self, epoch):
        """Keys added to every checkpoint saved after ``epoch`` (subclasses may add their own)."""
        return {"rng_state": rng_state(), "sampler_state": self.sampler_state(epoch + 1),
                "trainer_state": self.trainer_state(), built_on.KEY: self.built_on()}

    def save_model(self, epoch, directory, is_best=False, val_result=None, model_name=""):
        """Dassl's ``save_model`` (same files and keys), written atomically, with resume state."""
        extra = self.checkpoint_extras(epoch)
        for name in self.get_model_names():
            optim, sched = self._optims[name], self._scheds[name]
            state_dict = {k[len("module."):] if k.startswith("module.") else k: v
                          for k, v in self._models[name].state_dict().items()}
            checkpoint = {"state_dict": state_dict, "epoch": epoch + 1,
                          "optimizer": optim.state_dict() if optim is not None else None,
                          "scheduler": sched.state_dict() if sched is not None else None,
                          "val_result": val_result, **extra}
            folder = os.path.join(directory, name)
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, model_name or f"model.pth.tar-{epoch + 1}")
            run_folder.check_owner(self.cfg.OUTPUT_DIR, path)
            atomic_write(path, lambda tmp: torch.save(checkpoint, tmp), durable=True)
            print(f"Checkpoint saved to {path}")
            if model_name == RESUME_FILE:
                continue
            atomic_write_text(os.path.join(folder, "checkpoint"), os.path.basename(path) + "\n")
            if is_best:
                best = os.path.join(folder, "model-best.pth.tar")
                atomic_write(best, lambda tmp: shutil.copyfile(path, tmp))

    def resume_checkpoint_is_small(self):
        total = 0
        for name in self.get_model_names():
            total += state_nbytes(self._models[name].state_dict())
            if self._optims[name] is not None:
                total += state_nbytes(self._optims[name].state_dict())
        return total <= RESUME_CHECKPOINT_MAX_BYTES

    def after_epoch(self):
        super().after_epoch()
        if self.resume_checkpoint_is_small():
            self.save_model(self.epoch, self.output_dir, model_name=RESUME_FILE)

    # ---- resuming
    @staticmethod
    def _latest_checkpoint(folder):
        """``resume.pth.tar`` when there is one, else the file Dassl's pointer names, else None."""
        resume = os.path.join(folder, RESUME_FILE)
        if os.path.isfile(resume):
            return resume
        pointer = os.path.join(folder, "checkpoint")
        if os.path.isfile(pointer):
            with open(pointer) as f:
                return os.path.join(folder, f.readline().strip())
        return None

    def resume_model_if_exist(self, directory):
        """Resume models, optimizers, schedulers, random and sampler states; returns the epoch."""
        paths = {name: self._latest_checkpoint(os.path.join(directory, name))
                 for name in self.get_model_names()}
        if not paths or None in paths.values():
            print("No checkpoint found, train from scratch")
            return 0
        epochs = set()
        for name, path in paths.items():
            checkpoint = read_checkpoint(
                path, f"the {name} checkpoint to resume from",
                "Train again from scratch with --start-over (the old run folder is moved "
                "aside, nothing is deleted).")
            built_on.check_same(
                checkpoint.get(built_on.KEY), self.built_on(), path,
                "Resume it with what it was built on, or train again with --start-over (the "
                "old run is moved aside).")
            self._models[name].load_state_dict(checkpoint["state_dict"])
            if self._optims[name] is not None and checkpoint.get("optimizer") is not None:
                self._optims[name].load_state_dict(checkpoint["optimizer"])
            if self._scheds[name] is not None and checkpoint.get("scheduler") is not None:
                load_scheduler_state(self._scheds[name], checkpoint["scheduler"])
            epochs.add(checkpoint["epoch"])
            print(f"Resumed {name} from {path} (epoch {checkpoint['epoch']})")
        if len(epochs) > 1:
            raise RuntimeError(f"The checkpoints {sorted(paths.values())} are from different "
                               f"epochs {sorted(epochs)}: start over with --start-over.")
        if "rng_state" in checkpoint:
            self.load_trainer_state(checkpoint["trainer_state"])
            self.load_sampler_state(checkpoint["sampler_state"])
            restore_rng_state(checkpoint["rng_state"])
        else:
            print(f"{path} has no random-number state (not written by fvgpt): the resumed "
                  "run will not repeat an uninterrupted one exactly")
        return epochs.pop()

    def check_evaluated_checkpoint(self, path):
        """Before evaluating ``path``: refuse one recorded as built on other CLIP weights."""
        if not os.path.isfile(path):
            return  # the trainer's own loader names the missing file
        checkpoint = read_checkpoint(path, "the checkpoint to evaluate",
                                     "Pass an intact run's --output-dir as --model-dir.")
        recorded = checkpoint.get(built_on.KEY) if isinstance(checkpoint, dict) else None
        built_on.check_same(
            recorded, self.built_on(), path,
            "Set MODEL.BACKBONE.NAME to the CLIP weights it was trained with.",
            parts=["clip_weights"])

    # ---- safe re-runs and the done marker
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

    def write_result(self):
        """Write ``<output>/result.json`` (atomically): the final test's numbers and the run."""
        cfg, metrics = self.cfg, self.last_results
        d_fg = None
        if cfg.TEST.get("FOREGROUND_SHIFT_INDEX"):  # also in repositories that lack the key
            d_fg = foreground_shift_index(self, cfg.TRAINER.FVGPT.TAU)
            print(f"* foreground shift index D_fg: {d_fg:.4f}")
        result = {"accuracy": metrics.get("accuracy"), "error": metrics.get("error_rate"),
                  "macro_f1": metrics.get("macro_f1"), "d_fg": d_fg,
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


class ResumableTrainerX(ExactResume, TrainerX):
    """Dassl's TrainerX with exact resume, atomic checkpoints and ``result.json``."""
