"""Zero-shot CLIP with the dataset's hand-written prompt (CoOp's ZeroshotCLIP)."""
import torch
import torch.nn.functional as F

from dassl.engine import TRAINER_REGISTRY

from fvgpt.backbones.base import clip_class_features
from fvgpt.clip_loader import clip_from_config
from fvgpt.foreground_shift import ReportsForegroundShift
from fvgpt.resume import ResumableTrainerX
from fvgpt.templates import template_for


@TRAINER_REGISTRY.register()
class ZeroshotCLIP(ReportsForegroundShift, ResumableTrainerX):
    """Nothing to train: run with --eval-only."""

    def build_model(self):
        self.clip_model = clip_from_config(self.cfg, "fp16", self.device)
        template = template_for(self.cfg.DATASET.NAME)
        print(f"Prompt: {template!r}")
        self.text_features = clip_class_features(self.clip_model, self.dm.dataset.classnames, template)

    @torch.no_grad()
    def model_inference(self, image):
        features = self.clip_model.encode_image(image.type(self.clip_model.dtype)).float()
        scale = self.clip_model.logit_scale.exp().float()
        return scale * F.normalize(features, dim=-1) @ self.text_features.t()
