"""FVG-PT: foreground-view-guided prompt tuning add-on for CLIP prompt learners (Dassl trainers).

Importing ``fvgpt`` makes ``dassl`` importable: the real Dassl when installed, otherwise the
built-in engine in ``fvgpt.lite_dassl`` (see ``fvgpt.dassl_backend`` and ``FVGPT_DASSL``), and
registers the FVG-PT trainers (``fvgpt.trainers``) in that engine's TRAINER_REGISTRY.
In another repository's ``extend_cfg``, ``fvgpt.add_config(cfg)`` adds FVG-PT's config keys.
"""
from .clip_import import clip  # noqa: F401  the installed clip, whatever clip/ a repository ships
from .dassl_backend import ensure_dassl

__version__ = "0.1.0"

ensure_dassl()

from . import trainers  # noqa: E402,F401  registers FVGPT_* (needs the engine above)
from .config import add_config  # noqa: E402,F401
