"""ResidualText, a toy fifth backbone: zero-shot CLIP whose class text features pass through
a learned residual linear map, g(t) = normalise(g_CLIP(t) + W g_CLIP(t)), W starting at 0.

It is the worked example of docs/adding_a_backbone.md: tests/test_toy_backbone.py copies it
to ``fvgpt/backbones/residual_text.py`` of a copy of the repository, with its trainer, configs
and registry record, and runs it through the sweeps, FG-World and the efficiency benchmark.
"""
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from yacs.config import CfgNode as CN

from ..checkpoints import saved_checkpoint
from ..templates import template_for
from .base import FrozenBackbone, clip_class_features, read_backbone_state_dict

MODEL_NAME = "residual"  # the trainer's register_model name = checkpoint folder


def add_config(cfg):
    """ResidualText's keys."""
    cfg.TRAINER.RESIDUAL_TEXT = CN()
    cfg.TRAINER.RESIDUAL_TEXT.PREC = "fp32"  # precision of the frozen CLIP


class ResidualTextCLIP(nn.Module):
    """CLIP with the residual map ``residual`` (a D x D linear layer, zero at start) on g_CLIP."""

    def __init__(self, classnames, clip_model, template):
        super().__init__()
        self.register_buffer("clip_text", clip_class_features(clip_model, classnames, template))
        dim = self.clip_text.shape[1]
        self.residual = nn.Linear(dim, dim, bias=False).to(self.clip_text.device)
        nn.init.zeros_(self.residual.weight)
        self.image_encoder = clip_model.visual
        self.logit_scale = clip_model.logit_scale
        self.dtype = clip_model.dtype

    def encode_image(self, image):
        """L2-normalised f(x): CLIP's."""
        return F.normalize(self.image_encoder(image.type(self.dtype)).float(), dim=-1)

    def encode_classes(self):
        """L2-normalised g(t) = g_CLIP(t) + W g_CLIP(t)."""
        return F.normalize(self.clip_text + self.residual(self.clip_text), dim=-1)

    def forward(self, image):
        return self.logit_scale.exp() * self.encode_image(image) @ self.encode_classes().t()


def checkpoint_path(run_dir, epoch):
    """The run's ``residual/model.pth.tar-<epoch>`` (``saved_checkpoint``'s rule)."""
    return saved_checkpoint(os.path.join(run_dir, MODEL_NAME), epoch, "ResidualText checkpoint")


def load_residual(model, path):
    """Load W from a ResidualText checkpoint into ``model``."""
    weight = read_backbone_state_dict(path, "ResidualText", "weight")["weight"]
    if weight.shape != model.residual.weight.shape:
        raise ValueError(f"ResidualText checkpoint {path}: W has shape {tuple(weight.shape)}, this "
                         f"CLIP's text width needs {tuple(model.residual.weight.shape)}: set "
                         "MODEL.BACKBONE.NAME to the CLIP the run used.")
    with torch.no_grad():
        model.residual.weight.copy_(weight)


class ResidualTextBackbone(FrozenBackbone):
    """FVG-PT's view of a frozen ResidualText model: CLIP's image encoder, so f_CLIP = f(x)."""

    method = "ResidualText"

    @staticmethod
    def build_model(cfg, classnames, clip_model):
        return ResidualTextCLIP(classnames, clip_model, template_for(cfg.DATASET.NAME))

    @staticmethod
    def trainable_parameters(model):
        return [model.residual.weight]

    @classmethod
    def checkpoint_path(cls, run_dir, epoch):
        return checkpoint_path(run_dir, epoch)

    @classmethod
    def checkpoint_settings(cls, run_dir, epoch):
        return cls.checkpoint_path(run_dir, epoch), {}  # nothing to read: W's shape is CLIP's

    def load_checkpoint(self, run_dir, epoch):
        path = self.checkpoint_path(run_dir, epoch)
        load_residual(self.model, path)
        return path, None  # W fits any classes

    @torch.no_grad()
    def image_features(self, image):
        return self.model.encode_image(image)

    def clip_image_features(self, image, image_features):
        return image_features
