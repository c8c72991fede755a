"""FVG-PT on a frozen CoOp run: ``--trainer FVGPT_CoOp``."""
from dassl.engine import TRAINER_REGISTRY

from fvgpt.backbones.coop import CoOpBackbone
from fvgpt.trainer import FVGPTTrainer


@TRAINER_REGISTRY.register()
class FVGPT_CoOp(FVGPTTrainer):
    """Needs TRAINER.FVGPT.BACKBONE_DIR = the CoOp run's --output-dir (same data and seed)."""

    backbone_class = CoOpBackbone
