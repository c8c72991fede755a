"""PromptSRC: self-regulating vision-language prompts (Khattak et al., ICCV 2023)."""
import math

import torch
import torch.nn.functional as F

from dassl.engine import TRAINER_REGISTRY
from dassl.optim import build_lr_scheduler, build_optimizer

from fvgpt.backbones.base import tokenize_classnames
from fvgpt.backbones.coop import prompt_learner_checkpoint
from fvgpt.backbones.prompted_clip import encode_text
from fvgpt.backbones.promptsrc import MODEL_NAME, PromptSRCCLIP, load_prompts, promptsrc_loss
from fvgpt.clip_loader import clip_from_config

from .prompt_tuning import PromptTuningTrainer
from fvgpt.templates import IMAGENET_TEMPLATES


def gaussian_epoch_weights(max_epoch, mean, std):
    """Gaussian prompt aggregation weights N(a; mean, std) for epochs a = 1..max_epoch, summing
    to 1 (PromptSRC Sec. 3.2.3; muzairkhattak/PromptSRC trainers/promptsrc.py get_gauss)."""
    weights = [math.exp(-0.5 * ((a - mean) / std) ** 2) for a in range(1, max_epoch + 1)]
    return [w / sum(weights) for w in weights]


@torch.no_grad()
def ensemble_text_features(clip_model, classnames, templates):
    """Normalised mean over ``templates`` of CLIP's (unnormalised) text features per class
    (upstream: VLPromptLearner.fixed_embeddings, normalised in CustomCLIP.forward). Each
    prompt batch is cut after its longest prompt's end token (the text transformer is causal)."""
    device = clip_model.logit_scale.device
    total = 0
    for template in templates:
        tokens = tokenize_classnames(classnames, template)
        tokens = tokens[:, :int(tokens.argmax(dim=-1).max()) + 1].to(device)
        total = total + encode_text(clip_model, tokens).float()
    return F.normalize(total / len(templates), dim=-1)


@TRAINER_REGISTRY.register()
class PromptSRC(PromptTuningTrainer):
    """Trains the prompts; registers the whole model as ``VLPromptLearner`` like upstream, so
    checkpoints are ``VLPromptLearner/model.pth.tar-N`` with upstream's key names (without the
    second frozen image encoder: the unprompted pass is ``clip.visual``'s own forward)."""

    def check_cfg(self, cfg):
        if cfg.TRAINER.PROMPTSRC.PREC not in ("fp16", "fp32", "amp"):
            raise ValueError("TRAINER.PROMPTSRC.PREC must be fp16, fp32 or amp, got "
                             f"{cfg.TRAINER.PROMPTSRC.PREC!r}")

    def build_model(self):
        cfg, src = self.cfg, self.cfg.TRAINER.PROMPTSRC
        classnames = self.dm.dataset.classnames
        clip_model = clip_from_config(cfg, src.PREC, self.device)
        self.model = PromptSRCCLIP(src, classnames, clip_model).to(self.device)
        self.model.requires_grad_(False)
        prompts = self.model.prompt_parameters()
        for param in prompts.values():
            param.requires_grad_(True)
        print(f"# PromptSRC learnable parameters: {sum(p.numel() for p in prompts.values()):,}")
        self.zs_class_features = ensemble_text_features(clip_model, classnames, IMAGENET_TEMPLATES)
        self.optim = build_optimizer(list(prompts.values()), cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, cfg.OPTIM)
        self.register_model(MODEL_NAME, self.model, self.optim, self.sched)
        self.gpa_weights = gaussian_epoch_weights(cfg.OPTIM.MAX_EPOCH, src.GPA_MEAN, src.GPA_STD)
        self.gpa_prompts = None
        self.use_amp = src.PREC == "amp" and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if self.use_amp else None

    def loss(self, image, label):
        src = self.cfg.TRAINER.PROMPTSRC
        return promptsrc_loss(self.model, image, label, self.zs_class_features,
                              src.TEXT_LOSS_WEIGHT, src.IMAGE_LOSS_WEIGHT)

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
        path = prompt_learner_checkpoint(directory, epoch, "PromptSRC", MODEL_NAME)
        self.check_evaluated_checkpoint(path)
        load_prompts(self.model, path)
