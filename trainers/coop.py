"""CoOp: learnable context vectors in front of the class name (Zhou et al., IJCV 2022)."""

import torch

from dassl.engine import TRAINER_REGISTRY
from dassl.optim import build_lr_scheduler, build_optimizer
from dassl.utils import count_num_param

from fvgpt.backbones.coop import CoOpBackbone, load_prompt_learner
from fvgpt.clip_loader import clip_from_config

from .prompt_tuning import PromptTuningTrainer


@TRAINER_REGISTRY.register()
class CoOp(PromptTuningTrainer):
    """Trains only ``prompt_learner``; checkpoints as the upstream CoOp repository does."""

    backbone = CoOpBackbone

    def check_cfg(self, cfg):
        if cfg.TRAINER.COOP.PREC not in ("fp16", "fp32", "amp"):
            raise ValueError(f"TRAINER.COOP.PREC must be fp16, fp32 or amp, got {cfg.TRAINER.COOP.PREC!r}")

    def build_model(self):
        cfg = self.cfg
        clip_model = clip_from_config(cfg, cfg.TRAINER.COOP.PREC, self.device)
        self.model = self.build_tuning_model(clip_model)
        print(f"# {type(self).__name__} learnable parameters: "
              f"{count_num_param(self.model.prompt_learner):,}")
        self.optim = build_optimizer(self.model.prompt_learner, cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, cfg.OPTIM)
        self.register_model("prompt_learner", self.model.prompt_learner, self.optim, self.sched)
        self.use_amp = cfg.TRAINER.COOP.PREC == "amp" and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if self.use_amp else None

    def load_model(self, directory, epoch=None):
        """Load the learned context; class-token buffers stay those of the current classes."""
        path = self.backbone.checkpoint_path(directory, epoch)
        self.check_evaluated_checkpoint(path)
        load_prompt_learner(self.model.prompt_learner, path, type(self).__name__)
