"""Evaluators (mirrors ``dassl.evaluation``)."""
from .build import EVALUATOR_REGISTRY, build_evaluator  # isort:skip
from .evaluator import Classification, EvaluatorBase

__all__ = ["EVALUATOR_REGISTRY", "Classification", "EvaluatorBase", "build_evaluator"]
