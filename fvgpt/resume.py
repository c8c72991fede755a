"""Exact resume and atomic checkpoints, for any Dassl trainer.

``ResumableTrainerX`` is Dassl's ``TrainerX`` plus ``ExactResume`` (built on the run's record,
``fvgpt.run_record``) and loaders that name a missing or damaged image (``fvgpt.images``);
every trainer of this project (backbones and FVG-PT) derives from it. Checkpoints keep
Dassl's layout and keys (``<output>/<model>/model.pth.tar-<epoch>``, the ``checkpoint``
pointer file, ``model-best.pth.tar``) and gain keys of their own:

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
Every file is written to a temporary name and renamed, only while the run holds its
folder's lock (``fvgpt.run_folder``), so a kill while saving leaves the previous checkpoint
intact.
"""
import os
import random
import shutil

import numpy as np
import torch
from torch.optim.lr_scheduler import LRScheduler

from dassl.engine import TrainerX

from . import built_on, run_folder
from .checkpoints import atomic_write, atomic_write_text, read_checkpoint
from .images import ExplainedImageLoaders
from .run_record import RunRecord

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


class ExactResume(RunRecord):
    """Mixin for a Dassl trainer (put it before ``TrainerX``); see the module docstring.

    A trainer with running values beyond models, optimizers and schedulers extends
    ``trainer_state`` / ``load_trainer_state``.
    """

    # ---- what a checkpoint holds beyond Dassl's keys
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


class ResumableTrainerX(ExactResume, ExplainedImageLoaders, TrainerX):
    """Dassl's TrainerX with exact resume, atomic checkpoints, the run record (``result.json``)
    and image errors explained."""
