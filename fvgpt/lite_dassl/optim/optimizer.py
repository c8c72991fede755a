"""Optimizer construction from ``cfg.OPTIM`` (same options as dassl/optim/optimizer.py)."""
import warnings

import torch
import torch.nn as nn

__all__ = ["AVAI_OPTIMS", "build_optimizer"]

AVAI_OPTIMS = ["adam", "amsgrad", "sgd", "rmsprop", "adamw"]


def _staged_param_groups(model, optim_cfg):
    """Two groups: top-level modules named in NEW_LAYERS at LR, the rest at LR * BASE_LR_MULT."""
    if not isinstance(model, nn.Module):
        raise TypeError("When OPTIM.STAGED_LR is True, build_optimizer() needs an nn.Module")
    if isinstance(model, nn.DataParallel):
        model = model.module

    new_layers = optim_cfg.NEW_LAYERS
    if isinstance(new_layers, str):
        new_layers = [new_layers]
    if not new_layers:
        warnings.warn("OPTIM.NEW_LAYERS is empty, so OPTIM.STAGED_LR has no effect")

    base_params, new_params = [], []
    for name, module in model.named_children():
        target = new_params if name in new_layers else base_params
        target.extend(module.parameters())
    return [
        {"params": base_params, "lr": optim_cfg.LR * optim_cfg.BASE_LR_MULT},
        {"params": new_params},
    ]


def build_optimizer(model, optim_cfg, param_groups=None):
    """Build the optimizer ``optim_cfg.NAME`` for ``model`` (an nn.Module or an iterable of params).

    ``param_groups``, when given, is optimised instead of ``model`` (and STAGED_LR is ignored).
    """
    name = optim_cfg.NAME
    if name not in AVAI_OPTIMS:
        raise ValueError(f"optim must be one of {AVAI_OPTIMS}, but got {name}")

    if param_groups is not None and optim_cfg.STAGED_LR:
        warnings.warn("OPTIM.STAGED_LR is ignored because param_groups is given; set the group lrs yourself")
    if param_groups is None:
        if optim_cfg.STAGED_LR:
            param_groups = _staged_param_groups(model, optim_cfg)
        elif isinstance(model, nn.Module):
            param_groups = model.parameters()
        else:
            param_groups = model

    lr = optim_cfg.LR
    weight_decay = optim_cfg.WEIGHT_DECAY
    betas = (optim_cfg.ADAM_BETA1, optim_cfg.ADAM_BETA2)
    if name in ("adam", "amsgrad"):
        return torch.optim.Adam(
            param_groups, lr=lr, weight_decay=weight_decay, betas=betas, amsgrad=(name == "amsgrad")
        )
    if name == "sgd":
        return torch.optim.SGD(
            param_groups,
            lr=lr,
            momentum=optim_cfg.MOMENTUM,
            weight_decay=weight_decay,
            dampening=optim_cfg.SGD_DAMPNING,
            nesterov=optim_cfg.SGD_NESTEROV,
        )
    if name == "rmsprop":
        return torch.optim.RMSprop(
            param_groups,
            lr=lr,
            momentum=optim_cfg.MOMENTUM,
            weight_decay=weight_decay,
            alpha=optim_cfg.RMSPROP_ALPHA,
        )
    return torch.optim.AdamW(param_groups, lr=lr, weight_decay=weight_decay, betas=betas)
