"""The ResidualText trainer (tests/toy_backbone/residual_text.py): cross-entropy, only W trained."""
from dassl.engine import TRAINER_REGISTRY
from dassl.optim import build_lr_scheduler, build_optimizer

from fvgpt.backbones.residual_text import MODEL_NAME, ResidualTextBackbone, checkpoint_path, load_residual
from fvgpt.clip_loader import clip_from_config

from .prompt_tuning import PromptTuningTrainer


@TRAINER_REGISTRY.register()
class ResidualText(PromptTuningTrainer):
    """Trains the residual map W; checkpoints it as ``<output>/residual/model.pth.tar-N``."""

    backbone = ResidualTextBackbone

    def build_model(self):
        cfg = self.cfg
        clip_model = clip_from_config(cfg, cfg.TRAINER.RESIDUAL_TEXT.PREC, self.device)
        self.model = self.build_tuning_model(clip_model)
        self.optim = build_optimizer(self.model.residual, cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, cfg.OPTIM)
        self.register_model(MODEL_NAME, self.model.residual, self.optim, self.sched)
        self.use_amp, self.scaler = False, None

    def load_model(self, directory, epoch=None):
        path = checkpoint_path(directory, epoch)
        self.check_evaluated_checkpoint(path)
        load_residual(self.model, path)
