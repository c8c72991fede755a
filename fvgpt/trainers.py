"""The FVG-PT trainers, registered in Dassl's TRAINER_REGISTRY when ``fvgpt`` is imported.

Each wraps one frozen backbone (an adapter in ``fvgpt.backbones``) with the shared
``FVGPTTrainer``; ``--trainer FVGPT_<Backbone>`` selects it.
"""
from dassl.engine import TRAINER_REGISTRY

from .backbones.coop import CoOpBackbone
from .backbones.kgcoop import KgCoOpBackbone
from .backbones.promptsrc import PromptSRCBackbone
from .backbones.mmrl import MMRLBackbone
from .trainer import FVGPTTrainer


@TRAINER_REGISTRY.register()
class FVGPT_CoOp(FVGPTTrainer):
    """Needs TRAINER.FVGPT.BACKBONE_DIR = the CoOp run's --output-dir (same data and seed)."""

    backbone_class = CoOpBackbone


@TRAINER_REGISTRY.register()
class FVGPT_KgCoOp(FVGPTTrainer):
    """Needs TRAINER.FVGPT.BACKBONE_DIR = the KgCoOp run's --output-dir (same data and seed)."""

    backbone_class = KgCoOpBackbone


@TRAINER_REGISTRY.register()
class FVGPT_PromptSRC(FVGPTTrainer):
    """Needs TRAINER.FVGPT.BACKBONE_DIR = the PromptSRC run's --output-dir (same data and seed)."""

    backbone_class = PromptSRCBackbone


@TRAINER_REGISTRY.register()
class FVGPT_MMRL(FVGPTTrainer):
    """Needs TRAINER.FVGPT.BACKBONE_DIR = the MMRL run's --output-dir and its TRAINER.MMRL.* / TASK."""

    backbone_class = MMRLBackbone
