"""Optimizers and lr schedulers (mirrors ``dassl.optim``)."""
from .lr_scheduler import build_lr_scheduler
from .optimizer import build_optimizer

__all__ = ["build_lr_scheduler", "build_optimizer"]
