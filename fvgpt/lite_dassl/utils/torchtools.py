"""Checkpoint save/load and parameter counting.

Checkpoint layout follows Dassl (dassl/utils/torchtools.py): ``<save_dir>/model.pth.tar-<epoch>``
(or ``model_name``), a ``<save_dir>/checkpoint`` text file naming the latest file, and an
optional copy ``model-best.pth.tar``.
"""
import os.path as osp
import shutil
import warnings
from collections import OrderedDict

import torch

from .tools import mkdir_if_missing

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "resume_from_checkpoint",
    "count_num_param",
    "load_pretrained_weights",
]


def _strip_module_prefix(state_dict):
    """Drop the ``module.`` prefix that nn.DataParallel adds to parameter names."""
    return OrderedDict(
        (k[len("module."):] if k.startswith("module.") else k, v) for k, v in state_dict.items()
    )


def save_checkpoint(state, save_dir, is_best=False, remove_module_from_keys=True, model_name=""):
    """Save ``state`` to ``save_dir/model_name`` (default ``model.pth.tar-<state['epoch']>``)."""
    mkdir_if_missing(save_dir)
    if remove_module_from_keys:
        state["state_dict"] = _strip_module_prefix(state["state_dict"])

    if not model_name:
        model_name = f"model.pth.tar-{state['epoch']}"
    fpath = osp.join(save_dir, model_name)
    torch.save(state, fpath)
    print(f"Checkpoint saved to {fpath}")

    with open(osp.join(save_dir, "checkpoint"), "w") as f:
        f.write(osp.basename(fpath) + "\n")

    if is_best:
        best_fpath = osp.join(save_dir, "model-best.pth.tar")
        shutil.copy(fpath, best_fpath)
        print(f'Best checkpoint saved to "{best_fpath}"')


def load_checkpoint(fpath):
    """Load a checkpoint dict (onto the CPU when CUDA is unavailable).

    Full unpickling is used (``weights_only=False``): Dassl checkpoints store the
    scheduler's state, which for warm-up schedulers holds a scheduler object that
    torch's weights-only loader rejects. Only load checkpoints you trust.
    """
    if fpath is None:
        raise ValueError("Checkpoint path is None")
    if not osp.exists(fpath):
        raise FileNotFoundError(f'Checkpoint file not found: "{fpath}"')
    map_location = None if torch.cuda.is_available() else "cpu"
    try:
        return torch.load(fpath, map_location=map_location, weights_only=False)
    except Exception:
        print(f'Unable to load checkpoint from "{fpath}"')
        raise


def resume_from_checkpoint(fdir, model, optimizer=None, scheduler=None):
    """Restore model/optimizer/scheduler from the file named in ``fdir/checkpoint``; return its epoch."""
    with open(osp.join(fdir, "checkpoint"), "r") as f:
        fpath = osp.join(fdir, f.readline().strip("\n"))

    print(f'Loading checkpoint from "{fpath}"')
    checkpoint = load_checkpoint(fpath)
    model.load_state_dict(checkpoint["state_dict"])
    print("Loaded model weights")

    if optimizer is not None and "optimizer" in checkpoint:
        optimizer.load_state_dict(checkpoint["optimizer"])
        print("Loaded optimizer")

    if scheduler is not None and "scheduler" in checkpoint:
        scheduler.load_state_dict(checkpoint["scheduler"])
        print("Loaded scheduler")

    start_epoch = checkpoint["epoch"]
    print(f"Previous epoch: {start_epoch}")
    return start_epoch


def count_num_param(model=None, params=None):
    """Number of parameter elements of ``model``, or of ``params`` (tensors or param-group dicts)."""
    if model is not None:
        return sum(p.numel() for p in model.parameters())
    if params is not None:
        return sum(p["params"].numel() if isinstance(p, dict) else p.numel() for p in params)
    raise ValueError("count_num_param() needs a model or params")


def load_pretrained_weights(model, weight_path):
    """Copy the weights whose names and shapes match from ``weight_path`` into ``model``."""
    checkpoint = load_checkpoint(weight_path)
    state_dict = checkpoint["state_dict"] if "state_dict" in checkpoint else checkpoint

    model_dict = model.state_dict()
    matched, discarded = OrderedDict(), []
    for name, value in _strip_module_prefix(state_dict).items():
        if name in model_dict and model_dict[name].size() == value.size():
            matched[name] = value
        else:
            discarded.append(name)

    model_dict.update(matched)
    model.load_state_dict(model_dict)

    if not matched:
        warnings.warn(f"Cannot load {weight_path} (check the key names manually)")
    else:
        print(f"Successfully loaded pretrained weights from {weight_path}")
        if discarded:
            print(f"Layers discarded due to unmatched keys or size: {discarded}")
