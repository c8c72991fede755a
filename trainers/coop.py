"""CoOp: learnable context vectors in front of the class name (Zhou et al., IJCV 2022)."""
import os

import torch
import torch.nn.functional as F

from dassl.engine import TRAINER_REGISTRY
from dassl.metrics import compute_accuracy
from dassl.optim import build_lr_scheduler, build_optimizer
from dassl.utils import count_num_param

from fvgpt.backbones.coop import CoOpCLIP, load_prompt_learner
from fvgpt.clip_loader import clip_from_config
from fvgpt.resume import ResumableTrainerX


@TRAINER_REGISTRY.register()
class CoOp(ResumableTrainerX):
    """Trains only ``prompt_learner``; checkpoints as the upstream CoOp repository does."""

    def check_cfg(self, cfg):
        if cfg.TRAINER.COOP.PREC not in ("fp16", "fp32", "amp"):
            raise ValueError(f"TRAINER.COOP.PREC must be fp16, fp32 or amp, got {cfg.TRAINER.COOP.PREC!r}")

    def build_model(self):
        cfg = self.cfg
        clip_model = clip_from_config(cfg, cfg.TRAINER.COOP.PREC, self.device)
        self.model = CoOpCLIP(cfg.TRAINER.COOP, self.dm.dataset.classnames, clip_model).to(self.device)
        for name, param in self.model.named_parameters():
            param.requires_grad_(name.startswith("prompt_learner"))
        print(f"# CoOp learnable parameters: {count_num_param(self.model.prompt_learner):,}")
        self.optim = build_optimizer(self.model.prompt_learner, cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, cfg.OPTIM)
        self.register_model("prompt_learner", self.model.prompt_learner, self.optim, self.sched)
        self.use_amp = cfg.TRAINER.COOP.PREC == "amp" and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if self.use_amp else None

    def forward_backward(self, batch):
        image, label = self.parse_batch_train(batch)
        if self.use_amp:
            with torch.autocast("cuda"):
                output = self.model(image)
                loss = F.cross_entropy(output, label)
            self.optim.zero_grad()
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optim)
            self.scaler.update()
        else:
            output = self.model(image)
            loss = F.cross_entropy(output, label)
            self.model_backward_and_update(loss)
        summary = {"loss": loss.item(), "acc": compute_accuracy(output, label)[0].item()}
        if (self.batch_idx + 1) == self.num_batches:
            self.update_lr()
        return summary

    def trainer_state(self):
        state = super().trainer_state()
        if self.scaler is not None:
            state["grad_scaler"] = self.scaler.state_dict()
        return state

    def load_trainer_state(self, state):
        super().load_trainer_state(state)
        if self.scaler is not None:
            self.scaler.load_state_dict(state["grad_scaler"])

    def parse_batch_train(self, batch):
        return batch["img"].to(self.device), batch["label"].to(self.device)

    def load_model(self, directory, epoch=None):
        """Load the learned context; class-token buffers stay those of the current classes."""
        name = "model.pth.tar-" + str(epoch) if epoch else "model-best.pth.tar"
        path = os.path.join(directory, "prompt_learner", name)
        print(f"Loading prompt_learner from {path}")
        load_prompt_learner(self.model.prompt_learner, path)
