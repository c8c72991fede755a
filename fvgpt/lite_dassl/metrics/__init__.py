"""Metrics (mirrors ``dassl.metrics``; only accuracy)."""
from .accuracy import compute_accuracy

__all__ = ["compute_accuracy"]
