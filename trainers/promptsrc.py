"""PromptSRC: self-regulating vision-language prompts (Khattak et al., ICCV 2023)."""
import math

import torch

from dassl.engine import TRAINER_REGISTRY
from dassl.optim import build_lr_scheduler, build_optimizer

from fvgpt.backbones.promptsrc import MODEL_NAME, PromptSRCBackbone, load_prompts
from fvgpt.clip_loader import clip_from_config

from .prompt_tuning import PromptTuningTrainer


def gaussian_epoch_weights(max_epoch, mean, std):
    """Gaussian prompt aggregation weights N(a; mean, std) for epochs a = 1..max_epoch, summing
    to 1 (PromptSRC Sec. 3.2.3; muzairkhattak/PromptSRC trainers/promptsrc.py get_gauss)."""
    weights = [math.exp(-0.5 * ((a - mean) / std) ** 2) for a in range(1, max_epoch + 1)]
    return [w / sum(weights) for w in weights]


@TRAINER_REGISTRY.register()
class PromptSRC(PromptTuningTrainer):
    """Trains the prompts; registers the whole model as ``VLPromptLearner`` like upstream, so
    checkpoints are ``VLPromptLearner/model.pth.tar-N`` with upstream's key names (without the
    second frozen image encoder: the unprompted pass is ``clip.visual``'s own forward)."""

    backbone = PromptSRCBackbone

    def check_cfg(self, cfg):
        if cfg.TRAINER.PROMPTSRC.PREC not in ("fp16", "fp32", "amp"):
            raise ValueError("TRAINER.PROMPTSRC.PREC must be fp16, fp32 or amp, got "
                             f"{cfg.TRAINER.PROMPTSRC.PREC!r}")

    def build_model(self):
        cfg, src = self.cfg, self.cfg.TRAINER.PROMPTSRC
        clip_model = clip_from_config(cfg, src.PREC, self.device)
        self.model = self.build_tuning_model(clip_model)
        print(f"# PromptSRC learnable parameters: {sum(p.numel() for p in self.trainable):,}")
        self.optim = build_optimizer(self.trainable, cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, cfg.OPTIM)
        self.register_model(MODEL_NAME, self.model, self.optim, self.sched)
        self.gpa_weights = gaussian_epoch_weights(cfg.OPTIM.MAX_EPOCH, src.GPA_MEAN, src.GPA_STD)
        self.gpa_prompts = None
        self.use_amp = src.PREC == "amp" and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if self.use_amp else None

    def after_epoch(self):
        """Gaussian prompt aggregation: add this epoch's weighted prompts; after the last epoch
        the model takes the aggregate, before it is tested and saved. **(choice)** Only the
        prompts are aggregated; upstream also averages the frozen weights (a no-op up to fp16
        rounding)."""
        weight = self.gpa_weights[self.epoch]
        prompts = {k: p.detach().float() * weight for k, p in self.model.prompt_parameters().items()}
        self.gpa_prompts = prompts if self.gpa_prompts is None else {
            k: self.gpa_prompts[k] + v for k, v in prompts.items()}
        if self.epoch + 1 == self.max_epoch:
            print("Using the Gaussian-aggregated prompts (GPA) from now on")
            with torch.no_grad():
                for key, param in self.model.prompt_parameters().items():
                    param.copy_(self.gpa_prompts[key])
        super().after_epoch()

    def trainer_state(self):
        """The running GPA sum is part of an exact resume."""
        return {**super().trainer_state(), "gpa_prompts": self.gpa_prompts}

    def load_trainer_state(self, state):
        super().load_trainer_state(state)
        self.gpa_prompts = state["gpa_prompts"]

    def model_inference(self, image):
        return self.model(image)

    def load_model(self, directory, epoch=None):
        """Load the prompts of ``directory/VLPromptLearner`` (upstream's or ours)."""
        path = self.backbone.checkpoint_path(directory, epoch)
        self.check_evaluated_checkpoint(path)
        load_prompts(self.model, path)
