"""KgCoOp: CoOp's context regularised towards hand-crafted prompts (Yao et al., CVPR 2023)."""
import os

import torch
import torch.nn.functional as F

from dassl.engine import TRAINER_REGISTRY
from dassl.metrics import compute_accuracy
from dassl.optim import build_lr_scheduler, build_optimizer
from dassl.utils import count_num_param

from fvgpt.backbones.coop import load_prompt_learner
from fvgpt.backbones.kgcoop import KgCoOpCLIP
from fvgpt.clip_loader import clip_from_config
from fvgpt.resume import ResumableTrainerX
from fvgpt.templates import KGCOOP_TEMPLATES, DEFAULT_TEMPLATE


@TRAINER_REGISTRY.register()
class KgCoOp(ResumableTrainerX):
    """Trains ``prompt_learner`` with CE + W * (1 - cos(g, g_CLIP)); config node TRAINER.COOP
    (+ W), checkpoints as htyao89/KgCoOp (``prompt_learner/model.pth.tar-N``)."""

    def check_cfg(self, cfg):
        if cfg.TRAINER.COOP.PREC not in ("fp16", "fp32", "amp"):
            raise ValueError(f"TRAINER.COOP.PREC must be fp16, fp32 or amp, got {cfg.TRAINER.COOP.PREC!r}")

    def build_model(self):
        cfg = self.cfg
        clip_model = clip_from_config(cfg, cfg.TRAINER.COOP.PREC, self.device)
        template = KGCOOP_TEMPLATES.get(cfg.DATASET.NAME, DEFAULT_TEMPLATE)
        print(f"KgCoOp hand-crafted prompt: {template!r}")
        self.model = KgCoOpCLIP(cfg.TRAINER.COOP, self.dm.dataset.classnames, clip_model,
                                template).to(self.device)
        for name, param in self.model.named_parameters():
            param.requires_grad_(name.startswith("prompt_learner"))
        print(f"# KgCoOp learnable parameters: {count_num_param(self.model.prompt_learner):,}")
        self.optim = build_optimizer(self.model.prompt_learner, cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, cfg.OPTIM)
        self.register_model("prompt_learner", self.model.prompt_learner, self.optim, self.sched)
        self.use_amp = cfg.TRAINER.COOP.PREC == "amp" and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if self.use_amp else None

    def loss(self, image, label):
        class_features = self.model.encode_classes()
        output = self.model.logit_scale.exp() * self.model.encode_image(image) @ class_features.t()
        kg = self.model.knowledge_guided_loss(class_features)
        return F.cross_entropy(output, label) + self.cfg.TRAINER.COOP.W * kg, output, kg

    def forward_backward(self, batch):
        image, label = self.parse_batch_train(batch)
        if self.use_amp:
            with torch.autocast("cuda"):
                loss, output, kg = self.loss(image, label)
            self.optim.zero_grad()
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optim)
            self.scaler.update()
        else:
            loss, output, kg = self.loss(image, label)
            self.model_backward_and_update(loss)
        summary = {"loss": loss.item(), "loss_kg": kg.item(),
                   "acc": compute_accuracy(output, label)[0].item()}
        if (self.batch_idx + 1) == self.num_batches:
            self.update_lr()
        return summary

    def parse_batch_train(self, batch):
        return batch["img"].to(self.device), batch["label"].to(self.device)

    def model_inference(self, image):
        return self.model(image)

    def load_model(self, directory, epoch=None):
        """Load the learned context; class-token buffers stay those of the current classes."""
        name = "model.pth.tar-" + str(epoch) if epoch else "model-best.pth.tar"
        path = os.path.join(directory, "prompt_learner", name)
        print(f"Loading prompt_learner from {path}")
        load_prompt_learner(self.model.prompt_learner, path, "KgCoOp")
