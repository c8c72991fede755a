"""KgCoOp: CoOp's context regularised towards hand-crafted prompts (Yao et al., CVPR 2023)."""
import torch.nn.functional as F

from dassl.engine import TRAINER_REGISTRY

from fvgpt.backbones.kgcoop import KgCoOpCLIP
from fvgpt.templates import KGCOOP_TEMPLATES, DEFAULT_TEMPLATE

from .coop import CoOp


@TRAINER_REGISTRY.register()
class KgCoOp(CoOp):
    """CoOp trained with CE + W * (1 - cos(g, g_CLIP)); config node TRAINER.COOP (+ W),
    checkpoints as htyao89/KgCoOp (``prompt_learner/model.pth.tar-N``)."""

    def build_prompt_model(self, clip_model):
        template = KGCOOP_TEMPLATES.get(self.cfg.DATASET.NAME, DEFAULT_TEMPLATE)
        print(f"KgCoOp hand-crafted prompt: {template!r}")
        return KgCoOpCLIP(self.cfg.TRAINER.COOP, self.dm.dataset.classnames, clip_model, template)

    def loss(self, image, label):
        class_features = self.model.encode_classes()
        output = self.model.logit_scale.exp() * self.model.encode_image(image) @ class_features.t()
        kg = self.model.knowledge_guided_loss(class_features)
        return F.cross_entropy(output, label) + self.cfg.TRAINER.COOP.W * kg, output, {"loss_kg": kg}
