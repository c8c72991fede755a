"""KgCoOp: CoOp's context regularised towards hand-crafted prompts (Yao et al., CVPR 2023)."""
from dassl.engine import TRAINER_REGISTRY

from fvgpt.backbones.kgcoop import KgCoOpBackbone

from .coop import CoOp


@TRAINER_REGISTRY.register()
class KgCoOp(CoOp):
    """CoOp trained with CE + W * (1 - cos(g, g_CLIP)) (``KgCoOpBackbone.tuning_loss``); config
    node TRAINER.COOP (+ W), checkpoints as htyao89/KgCoOp (``prompt_learner/model.pth.tar-N``)."""

    backbone = KgCoOpBackbone
