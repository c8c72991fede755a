"""Trainer base classes: TrainerBase (models, checkpoints), SimpleTrainer (loop, test), TrainerX.

Control flow, checkpoint files and log lines follow dassl/engine/trainer.py, which
CoOp-family trainers subclass.
"""
import datetime
import os.path as osp
import time
from collections import OrderedDict

import numpy as np
import torch
from tqdm import tqdm

from ..data import DataManager
from ..evaluation import build_evaluator
from ..utils import (
    AverageMeter,
    MetricMeter,
    load_checkpoint,
    mkdir_if_missing,
    resume_from_checkpoint,
    save_checkpoint,
    tolist_if_not,
)

try:
    from torch.utils.tensorboard import SummaryWriter
except ImportError:  # the tensorboard package is not installed
    SummaryWriter = None

__all__ = ["TrainerBase", "SimpleTrainer", "TrainerX", "SummaryWriter", "MetricMeter", "AverageMeter"]


def _eta(seconds):
    return str(datetime.timedelta(seconds=int(seconds)))


class TrainerBase:
    """Keeps named models with their optimizers and schedulers; saves, loads and steps them."""

    def __init__(self):
        self._models = OrderedDict()
        self._optims = OrderedDict()
        self._scheds = OrderedDict()
        self._writer = None

    def register_model(self, name="model", model=None, optim=None, sched=None):
        """Track ``model`` (with its optimizer and scheduler, either may be None) under ``name``."""
        for attr in ("_models", "_optims", "_scheds"):
            if self.__dict__.get(attr) is None:
                raise AttributeError("Cannot register a model before super().__init__() is called")
        if name in self._models:
            raise KeyError(f'A model named "{name}" is already registered')
        self._models[name] = model
        self._optims[name] = optim
        self._scheds[name] = sched

    def get_model_names(self, names=None):
        """``names`` (checked to be registered) or all registered names."""
        registered = list(self._models.keys())
        if names is None:
            return registered
        names = tolist_if_not(names)
        for name in names:
            if name not in registered:
                raise KeyError(f'No model named "{name}" (registered: {registered})')
        return names

    def save_model(self, epoch, directory, is_best=False, val_result=None, model_name=""):
        """Save each model to ``directory/<name>/`` (default file ``model.pth.tar-<epoch + 1>``)."""
        for name in self.get_model_names():
            optim, sched = self._optims[name], self._scheds[name]
            save_checkpoint(
                {
                    "state_dict": self._models[name].state_dict(),
                    "epoch": epoch + 1,
                    "optimizer": optim.state_dict() if optim is not None else None,
                    "scheduler": sched.state_dict() if sched is not None else None,
                    "val_result": val_result,
                },
                osp.join(directory, name),
                is_best=is_best,
                model_name=model_name,
            )

    def resume_model_if_exist(self, directory):
        """Resume every model from ``directory/<name>/``; return the epoch to start from (0 if none)."""
        names = self.get_model_names()
        if not all(osp.exists(osp.join(directory, name)) for name in names):
            print("No checkpoint found, train from scratch")
            return 0

        print(f"Found checkpoint at {directory} (will resume training)")
        start_epoch = 0
        for name in names:
            start_epoch = resume_from_checkpoint(
                osp.join(directory, name), self._models[name], self._optims[name], self._scheds[name]
            )
        return start_epoch

    def load_model(self, directory, epoch=None):
        """Load weights from ``directory/<name>/model-best.pth.tar`` or ``model.pth.tar-<epoch>``."""
        if not directory:
            print(
                "Note that load_model() is skipped as no pretrained model is given "
                "(ignore this if it's done on purpose)"
            )
            return

        model_file = "model-best.pth.tar" if epoch is None else f"model.pth.tar-{epoch}"
        for name in self.get_model_names():
            model_path = osp.join(directory, name, model_file)
            if not osp.exists(model_path):
                raise FileNotFoundError(f"No model at {model_path}")
            checkpoint = load_checkpoint(model_path)
            val_result = checkpoint["val_result"]
            val_text = f"{val_result:.1f}" if isinstance(val_result, (int, float)) else str(val_result)
            print(f"Load {model_path} to {name} (epoch={checkpoint['epoch']}, val_result={val_text})")
            self._models[name].load_state_dict(checkpoint["state_dict"])

    def set_model_mode(self, mode="train", names=None):
        """``mode``: "train", or "test"/"eval"."""
        for name in self.get_model_names(names):
            if mode == "train":
                self._models[name].train()
            elif mode in ("test", "eval"):
                self._models[name].eval()
            else:
                raise KeyError(f'Unknown model mode "{mode}" (use "train", "test" or "eval")')

    def update_lr(self, names=None):
        """Step the schedulers (once per epoch)."""
        for name in self.get_model_names(names):
            if self._scheds[name] is not None:
                self._scheds[name].step()

    def detect_anomaly(self, loss):
        if not torch.isfinite(loss).all():
            raise FloatingPointError("Loss is infinite or NaN!")

    def init_writer(self, log_dir):
        """Open a TensorBoard writer, or say once that scalars are not written."""
        if self._writer is not None:
            return
        if SummaryWriter is None:
            print("tensorboard is not installed: training scalars are not written (pip install tensorboard)")
            return
        print(f"Initialize tensorboard (log_dir={log_dir})")
        self._writer = SummaryWriter(log_dir=log_dir)

    def close_writer(self):
        if self._writer is not None:
            self._writer.close()

    def write_scalar(self, tag, scalar_value, global_step=None):
        """Write a TensorBoard scalar (no-op without a writer)."""
        if self._writer is not None:
            self._writer.add_scalar(tag, scalar_value, global_step)

    def train(self, start_epoch, max_epoch):
        """before_train, then before_epoch/run_epoch/after_epoch per epoch, then after_train."""
        self.start_epoch = start_epoch
        self.max_epoch = max_epoch
        self.before_train()
        for self.epoch in range(self.start_epoch, self.max_epoch):
            self.before_epoch()
            self.run_epoch()
            self.after_epoch()
        self.after_train()

    def before_train(self):
        pass

    def after_train(self):
        pass

    def before_epoch(self):
        pass

    def after_epoch(self):
        pass

    def run_epoch(self):
        raise NotImplementedError

    def test(self):
        raise NotImplementedError

    def parse_batch_train(self, batch):
        raise NotImplementedError

    def parse_batch_test(self, batch):
        raise NotImplementedError

    def forward_backward(self, batch):
        """One optimisation step on ``batch``; returns a dict of loss summaries for logging."""
        raise NotImplementedError

    def model_inference(self, input):
        raise NotImplementedError

    def model_zero_grad(self, names=None):
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                self._optims[name].zero_grad()

    def model_backward(self, loss):
        self.detect_anomaly(loss)
        loss.backward()

    def model_update(self, names=None):
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                self._optims[name].step()

    def model_backward_and_update(self, loss, names=None):
        self.model_zero_grad(names)
        self.model_backward(loss)
        self.model_update(names)


class SimpleTrainer(TrainerBase):
    """Generic train/test loop driven by a config; subclasses implement build_model and forward_backward."""

    def __init__(self, cfg):
        super().__init__()
        self.check_cfg(cfg)
        if torch.cuda.is_available() and cfg.USE_CUDA:
            self.device = torch.device("cuda")
        else:
            self.device = torch.device("cpu")

        self.start_epoch = self.epoch = 0
        self.max_epoch = cfg.OPTIM.MAX_EPOCH
        self.output_dir = cfg.OUTPUT_DIR

        self.cfg = cfg
        self.build_data_loader()
        self.build_model()
        self.evaluator = build_evaluator(cfg, lab2cname=self.lab2cname)
        self.best_result = -np.inf

    def check_cfg(self, cfg):
        """Hook to validate trainer-specific config values (no checks by default)."""

    def build_data_loader(self):
        """Set train_loader_x/_u, val_loader, test_loader, num_classes, num_source_domains, lab2cname, dm.

        Overriding methods must set the same attributes (e.g. to pass ``dataset_wrapper=``).
        """
        dm = DataManager(self.cfg)
        self.train_loader_x = dm.train_loader_x
        self.train_loader_u = dm.train_loader_u
        self.val_loader = dm.val_loader
        self.test_loader = dm.test_loader
        self.num_classes = dm.num_classes
        self.num_source_domains = dm.num_source_domains
        self.lab2cname = dm.lab2cname
        self.dm = dm

    def build_model(self):
        """Build and ``register_model`` the model(s). Must be defined by the trainer.

        (Dassl's default builds a backbone from its model zoo, which the built-in engine does not include.)
        """
        raise NotImplementedError(
            f"{type(self).__name__} must define build_model(): "
            "fvgpt's built-in Dassl engine has no backbone zoo"
        )

    def train(self):
        super().train(self.start_epoch, self.max_epoch)

    def before_train(self):
        directory = self.cfg.RESUME if self.cfg.RESUME else self.cfg.OUTPUT_DIR
        self.start_epoch = self.resume_model_if_exist(directory)

        writer_dir = osp.join(self.output_dir, "tensorboard")
        mkdir_if_missing(writer_dir)
        self.init_writer(writer_dir)

        self.time_start = time.time()

    def after_train(self):
        print("Finish training")
        if not self.cfg.TEST.NO_TEST:
            if self.cfg.TEST.FINAL_MODEL == "best_val":
                print("Deploy the model with the best val performance")
                self.load_model(self.output_dir)
            else:
                print("Deploy the last-epoch model")
            self.test()

        elapsed = round(time.time() - self.time_start)
        print(f"Elapsed: {datetime.timedelta(seconds=elapsed)}")
        self.close_writer()

    def after_epoch(self):
        """Keep the best-val model (FINAL_MODEL best_val); save at CHECKPOINT_FREQ and at the last epoch."""
        last_epoch = (self.epoch + 1) == self.max_epoch
        do_test = not self.cfg.TEST.NO_TEST
        freq = self.cfg.TRAIN.CHECKPOINT_FREQ
        meet_checkpoint_freq = freq > 0 and (self.epoch + 1) % freq == 0

        if do_test and self.cfg.TEST.FINAL_MODEL == "best_val":
            curr_result = self.test(split="val")
            if curr_result > self.best_result:
                self.best_result = curr_result
                self.save_model(
                    self.epoch, self.output_dir, val_result=curr_result, model_name="model-best.pth.tar"
                )

        if meet_checkpoint_freq or last_epoch:
            self.save_model(self.epoch, self.output_dir)

    @torch.no_grad()
    def test(self, split=None):
        """Evaluate on the "val" or "test" split (default TEST.SPLIT; test when there is no val loader).

        Returns the evaluator's first metric (accuracy for Classification).
        """
        self.set_model_mode("eval")
        self.evaluator.reset()

        if split is None:
            split = self.cfg.TEST.SPLIT
        if split == "val" and self.val_loader is not None:
            data_loader = self.val_loader
        else:
            split = "test"
            data_loader = self.test_loader

        print(f"Evaluate on the *{split}* set")
        for batch in tqdm(data_loader):
            input, label = self.parse_batch_test(batch)
            output = self.model_inference(input)
            self.evaluator.process(output, label)

        results = self.evaluator.evaluate()
        for k, v in results.items():
            self.write_scalar(f"{split}/{k}", v, self.epoch)
        return list(results.values())[0]

    def model_inference(self, input):
        return self.model(input)

    def parse_batch_test(self, batch):
        return batch["img"].to(self.device), batch["label"].to(self.device)

    def get_current_lr(self, names=None):
        """Learning rate of the first param group of the first (or named) model's optimizer."""
        name = self.get_model_names(names)[0]
        return self._optims[name].param_groups[0]["lr"]


class TrainerX(SimpleTrainer):
    """Trainer over labelled data only (``train_loader_x``)."""

    def run_epoch(self):
        """One pass over train_loader_x calling forward_backward; logs every TRAIN.PRINT_FREQ batches."""
        self.set_model_mode("train")
        losses = MetricMeter()
        batch_time = AverageMeter()
        data_time = AverageMeter()
        self.num_batches = len(self.train_loader_x)
        print_freq = self.cfg.TRAIN.PRINT_FREQ

        end = time.time()
        for self.batch_idx, batch in enumerate(self.train_loader_x):
            data_time.update(time.time() - end)
            loss_summary = self.forward_backward(batch)
            batch_time.update(time.time() - end)
            losses.update(loss_summary)

            if (self.batch_idx + 1) % print_freq == 0 or self.num_batches < print_freq:
                batches_left = self.num_batches - self.batch_idx - 1
                batches_left += (self.max_epoch - self.epoch - 1) * self.num_batches
                info = [
                    f"epoch [{self.epoch + 1}/{self.max_epoch}]",
                    f"batch [{self.batch_idx + 1}/{self.num_batches}]",
                    f"time {batch_time.val:.3f} ({batch_time.avg:.3f})",
                    f"data {data_time.val:.3f} ({data_time.avg:.3f})",
                    f"{losses}",
                    f"lr {self.get_current_lr():.4e}",
                    f"eta {_eta(batch_time.avg * batches_left)}",
                ]
                print(" ".join(info))

            n_iter = self.epoch * self.num_batches + self.batch_idx
            for name, meter in losses.meters.items():
                self.write_scalar("train/" + name, meter.avg, n_iter)
            self.write_scalar("train/lr", self.get_current_lr(), n_iter)

            end = time.time()

    def parse_batch_train(self, batch):
        return batch["img"].to(self.device), batch["label"].to(self.device), batch["domain"].to(self.device)
