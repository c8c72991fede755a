"""Learning-rate schedulers from ``cfg.OPTIM``, with Dassl's warm-up wrappers.

Behaviour follows dassl/optim/lr_scheduler.py: the warm-up scheduler sets the lr for the
first WARMUP_EPOCH epochs, then hands every step to the wrapped ("successor") scheduler.
Written against the current ``torch.optim.lr_scheduler.LRScheduler`` (no ``verbose``).
"""
import torch
from torch.optim.lr_scheduler import LRScheduler

__all__ = [
    "AVAI_SCHEDS",
    "ConstantWarmupScheduler",
    "LinearWarmupScheduler",
    "build_lr_scheduler",
]

AVAI_SCHEDS = ["single_step", "multi_step", "cosine"]


class _BaseWarmupScheduler(LRScheduler):
    """Warm-up for ``warmup_epoch`` steps, then delegate to ``successor``.

    ``verbose`` is accepted for signature compatibility with Dassl and ignored.
    """

    def __init__(self, optimizer, successor, warmup_epoch, last_epoch=-1, verbose=False):
        self.successor = successor
        self.warmup_epoch = warmup_epoch
        super().__init__(optimizer, last_epoch)

    def warmup_lr(self):
        """The lrs during warm-up (``self.last_epoch`` < ``self.warmup_epoch``)."""
        raise NotImplementedError

    def get_lr(self):
        if self.last_epoch >= self.warmup_epoch:
            return self.successor.get_last_lr()
        return self.warmup_lr()

    def step(self, epoch=None):
        if self.last_epoch >= self.warmup_epoch:
            self.successor.step(epoch)
            self._last_lr = self.successor.get_last_lr()
        else:
            super().step(epoch)

    def state_dict(self):
        """Own state plus the successor's state (as a dict, so checkpoints hold plain data)."""
        state = super().state_dict()
        state["successor"] = self.successor.state_dict()
        return state

    def load_state_dict(self, state_dict):
        """Inverse of ``state_dict``; also accepts Dassl's layout, where "successor" is a scheduler object."""
        state = dict(state_dict)
        successor_state = state.pop("successor", None)
        if isinstance(successor_state, LRScheduler):
            successor_state = successor_state.state_dict()
        if successor_state is not None:
            self.successor.load_state_dict(successor_state)
        super().load_state_dict(state)


class ConstantWarmupScheduler(_BaseWarmupScheduler):
    """Constant lr ``cons_lr`` during warm-up."""

    def __init__(self, optimizer, successor, warmup_epoch, cons_lr, last_epoch=-1, verbose=False):
        self.cons_lr = cons_lr
        super().__init__(optimizer, successor, warmup_epoch, last_epoch, verbose)

    def warmup_lr(self):
        return [self.cons_lr for _ in self.base_lrs]


class LinearWarmupScheduler(_BaseWarmupScheduler):
    """``min_lr`` at step 0, then base_lr * step / warmup_epoch until warm-up ends."""

    def __init__(self, optimizer, successor, warmup_epoch, min_lr, last_epoch=-1, verbose=False):
        self.min_lr = min_lr
        super().__init__(optimizer, successor, warmup_epoch, last_epoch, verbose)

    def warmup_lr(self):
        if self.last_epoch == 0:
            return [self.min_lr for _ in self.base_lrs]
        return [base_lr * self.last_epoch / self.warmup_epoch for base_lr in self.base_lrs]


def _main_scheduler(optimizer, optim_cfg):
    name = optim_cfg.LR_SCHEDULER
    stepsize = optim_cfg.STEPSIZE
    if name == "single_step":
        if isinstance(stepsize, (list, tuple)):
            stepsize = stepsize[-1]
        if not isinstance(stepsize, int):
            raise TypeError(
                f"For single_step lr_scheduler, stepsize must be an integer, but got {type(stepsize)}"
            )
        if stepsize <= 0:
            stepsize = optim_cfg.MAX_EPOCH
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=stepsize, gamma=optim_cfg.GAMMA)
    if name == "multi_step":
        if not isinstance(stepsize, (list, tuple)):
            raise TypeError(f"For multi_step lr_scheduler, stepsize must be a list, but got {type(stepsize)}")
        return torch.optim.lr_scheduler.MultiStepLR(
            optimizer, milestones=list(stepsize), gamma=optim_cfg.GAMMA
        )
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, float(optim_cfg.MAX_EPOCH))


def build_lr_scheduler(optimizer, optim_cfg):
    """Build ``optim_cfg.LR_SCHEDULER``, wrapped in a warm-up scheduler when WARMUP_EPOCH > 0.

    The scheduler is stepped once per epoch.
    """
    if optim_cfg.LR_SCHEDULER not in AVAI_SCHEDS:
        raise ValueError(f"scheduler must be one of {AVAI_SCHEDS}, but got {optim_cfg.LR_SCHEDULER}")
    scheduler = _main_scheduler(optimizer, optim_cfg)

    if optim_cfg.WARMUP_EPOCH > 0:
        if not optim_cfg.WARMUP_RECOUNT:
            scheduler.last_epoch = optim_cfg.WARMUP_EPOCH
        if optim_cfg.WARMUP_TYPE == "constant":
            scheduler = ConstantWarmupScheduler(
                optimizer, scheduler, optim_cfg.WARMUP_EPOCH, optim_cfg.WARMUP_CONS_LR
            )
        elif optim_cfg.WARMUP_TYPE == "linear":
            scheduler = LinearWarmupScheduler(
                optimizer, scheduler, optim_cfg.WARMUP_EPOCH, optim_cfg.WARMUP_MIN_LR
            )
        else:
            raise ValueError(
                f'OPTIM.WARMUP_TYPE must be "constant" or "linear", but got {optim_cfg.WARMUP_TYPE!r}'
            )
    return scheduler
