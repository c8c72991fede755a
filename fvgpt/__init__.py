"""FVG-PT: foreground-view-guided prompt tuning add-on for CLIP prompt learners (Dassl trainers).

Importing ``fvgpt`` makes ``dassl`` importable: the real Dassl when installed, otherwise the
built-in engine in ``fvgpt.lite_dassl`` (see ``fvgpt.dassl_backend`` and ``FVGPT_DASSL``).
"""
from .dassl_backend import ensure_dassl

__version__ = "0.1.0"

ensure_dassl()
