"""Configuration defaults (mirrors ``dassl.config``)."""
from .defaults import _C as cfg_default

__all__ = ["cfg_default", "get_cfg_default", "clean_cfg"]


def get_cfg_default():
    """A fresh copy of the default config."""
    return cfg_default.clone()


def clean_cfg(cfg, trainer):
    """Drop every ``cfg.TRAINER`` sub-node except NAME and the one named ``trainer``."""
    for key in list(cfg.TRAINER.keys()):
        if key not in ("NAME", trainer.upper()):
            cfg.TRAINER.pop(key)
