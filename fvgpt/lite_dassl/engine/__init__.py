"""Trainers (mirrors ``dassl.engine``; TrainerX only, no DA/DG/SSL trainers)."""
from .build import TRAINER_REGISTRY, build_trainer  # isort:skip
from .trainer import SimpleTrainer, TrainerBase, TrainerX

__all__ = ["TRAINER_REGISTRY", "SimpleTrainer", "TrainerBase", "TrainerX", "build_trainer"]
