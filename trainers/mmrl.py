"""MMRL: multi-modal representation learning (Guo & Gu, CVPR 2025), as yunncheng/MMRL trains it."""
import torch

from dassl.engine import TRAINER_REGISTRY
from dassl.optim import build_lr_scheduler, build_optimizer
from dassl.utils import count_num_param

from fvgpt.backbones.mmrl import (CHECKPOINT_FOLDERS, MMRLBackbone, branch_logits,
                                  checkpoint_path, load_checkpoint, mmrl_branch)
from fvgpt.clip_loader import clip_from_config

from .prompt_tuning import PromptTuningTrainer


@TRAINER_REGISTRY.register()
class MMRL(PromptTuningTrainer):
    """Trains the representation learner and ``proj_rep``; checkpoints the whole model under
    upstream's name, so runs of either code base load in the other."""

    backbone = MMRLBackbone

    def check_cfg(self, cfg):
        if cfg.TRAINER.MMRL.PREC not in ("fp16", "fp32", "amp"):
            raise ValueError(f"TRAINER.MMRL.PREC must be fp16, fp32 or amp, got {cfg.TRAINER.MMRL.PREC!r}")
        mmrl_branch(cfg)  # validates TASK

    def build_model(self):
        cfg, mmrl_cfg = self.cfg, self.cfg.TRAINER.MMRL
        clip_model = clip_from_config(cfg, mmrl_cfg.PREC, self.device)
        self.model = self.build_tuning_model(clip_model)
        learnable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        print(f"# MMRL learnable parameters: {learnable:,} (model {count_num_param(self.model):,})")
        # As upstream: the optimiser and the checkpoint cover the whole model.
        self.optim = build_optimizer(self.model, cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, cfg.OPTIM)
        self.register_model(CHECKPOINT_FOLDERS[0], self.model, self.optim, self.sched)
        self.branch = mmrl_branch(cfg)
        print(f"Test-time logits: {self.branch} (TASK {cfg.TASK})")
        self.inference_state = None
        self.use_amp = mmrl_cfg.PREC == "amp" and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if self.use_amp else None

    def loss(self, image, label):
        """MMRL's loss (``MMRLBackbone.tuning_loss``); the logged logits are the fused ones."""
        self.inference_state = None  # the tokens change
        return super().loss(image, label)

    @torch.no_grad()
    def model_inference(self, image):
        """MMRL's branch for this run: fused logits or the CLS head's (``mmrl_branch``)."""
        if self.inference_state is None:
            self.inference_state = self.model.inference_state()
        class_features, visual_tokens = self.inference_state
        f_cls, f_rep = self.model.encode_image(image, visual_tokens)
        return branch_logits(f_cls, f_rep, class_features, self.branch, self.cfg.TRAINER.MMRL.ALPHA)

    def load_model(self, directory, epoch=None):
        """Load a run of this trainer or of upstream MMRL (either checkpoint folder name)."""
        path = self.backbone.checkpoint_path(directory, epoch)
        self.check_evaluated_checkpoint(path)
        load_checkpoint(self.model, path)
        self.inference_state = None
