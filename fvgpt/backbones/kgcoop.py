"""KgCoOp (Yao et al., CVPR 2023): CoOp's context, kept close to hand-crafted prompts in training.

At test time KgCoOp is CoOp with the class token at the end (htyao89/KgCoOp,
KgCoOp/trainers/kgcoop.py, CustomCLIP.forward): the image encoder is CLIP's, the
text features come from ``[SOS] ctx "{class}." [EOS]``. Its checkpoint is CoOp's
``<run>/prompt_learner/model.pth.tar-N`` (keys ``ctx``, ``token_prefix``, ``token_suffix``)
plus the unused ``bias_vectors`` and ``meta_net.*``, which are ignored on load.
"""
import torch.nn.functional as F

from ..templates import DEFAULT_TEMPLATE, KGCOOP_TEMPLATES
from .base import clip_class_features
from .coop import CoOpBackbone, CoOpCLIP


def add_config(cfg):
    """KgCoOp's keys: CoOp's node plus the weight W of its knowledge-guided loss
    (htyao89/KgCoOp, KgCoOp/train.py: W = 1.0; its scripts pass 8.0). Needs CoOp's ``add_config``."""
    cfg.TRAINER.COOP.W = 1.0


class KgCoOpCLIP(CoOpCLIP):
    """CoOp's model plus the frozen hand-crafted class features of KgCoOp's training loss."""

    def __init__(self, coop_cfg, classnames, clip_model, template):
        if coop_cfg.CLASS_TOKEN_POSITION != "end":
            raise ValueError("KgCoOp puts the class token at the end only (upstream ignores "
                             "TRAINER.COOP.CLASS_TOKEN_POSITION): set it to end, got "
                             f"{coop_cfg.CLASS_TOKEN_POSITION!r}")
        super().__init__(coop_cfg, classnames, clip_model)
        self.register_buffer("handcrafted_class_features",
                             clip_class_features(clip_model, classnames, template), persistent=False)

    def knowledge_guided_loss(self, class_features):
        """1 - mean_c cos(g_c, g_c^CLIP) between the learned and hand-crafted class features
        (KgCoOp, Eq. 5; kgcoop.py CustomCLIP.forward)."""
        return 1.0 - F.cosine_similarity(class_features, self.handcrafted_class_features, dim=-1).mean()


class KgCoOpBackbone(CoOpBackbone):
    """FVG-PT's view of a frozen KgCoOp model: CoOp's test-time path and checkpoint format,
    so f_CLIP = f(x) as for CoOp. Tuned with KgCoOp's hand-crafted prompts in its loss."""

    method = "KgCoOp"

    @classmethod
    def build_tuning_model(cls, cfg, classnames, clip_model):
        template = KGCOOP_TEMPLATES.get(cfg.DATASET.NAME, DEFAULT_TEMPLATE)
        print(f"KgCoOp hand-crafted prompt: {template!r}")
        return KgCoOpCLIP(cfg.TRAINER.COOP, classnames, clip_model, template)

    @staticmethod
    def tuning_loss(cfg, model, clip_model, classnames):
        """CE + W (1 - mean cos(g, g_CLIP)), KgCoOp's objective (htyao89/KgCoOp trainers/kgcoop.py, forward_backward)."""
        weight = cfg.TRAINER.COOP.W

        def loss(image, label):
            class_features = model.encode_classes()
            output = model.logit_scale.exp() * model.encode_image(image) @ class_features.t()
            kg = model.knowledge_guided_loss(class_features)
            return F.cross_entropy(output, label) + weight * kg, output, {"loss_kg": kg}
        return loss
