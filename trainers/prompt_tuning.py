"""The training step shared by the backbone trainers: the backbone's loss, AMP or plain precision."""
import torch

from dassl.metrics import compute_accuracy

from fvgpt.foreground_shift import ReportsForegroundShift
from fvgpt.resume import ResumableTrainerX


class PromptTuningTrainer(ReportsForegroundShift, ResumableTrainerX):
    """Subclasses set ``backbone`` (the backbone's adapter: its static members give the tuning
    model, its trainable parameters and its loss) and, in ``build_model``, ``self.model``
    (``build_tuning_model``), ``self.optim``, ``self.use_amp`` and ``self.scaler``. With AMP the
    GradScaler's state is part of the resume state (``trainer_state``), so an interrupted run
    resumes exactly."""

    backbone = None

    def build_tuning_model(self, clip_model):
        """The backbone's tuning model, only its trainable parameters (``self.trainable``)
        trainable; its loss becomes ``self.tuning_loss`` (``FrozenBackbone.tuning_parts``)."""
        model, self.trainable, self.tuning_loss = self.backbone.tuning_parts(
            self.cfg, self.dm.dataset.classnames, clip_model, self.device)
        return model

    def loss(self, image, label):
        """Returns (loss, logits, {name: other term to log})."""
        return self.tuning_loss(image, label)

    def forward_backward(self, batch):
        image, label = self.parse_batch_train(batch)
        if self.use_amp:
            with torch.autocast("cuda"):
                loss, output, terms = self.loss(image, label)
            self.optim.zero_grad()
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optim)
            self.scaler.update()
        else:
            loss, output, terms = self.loss(image, label)
            self.model_backward_and_update(loss)
        summary = {"loss": loss.item(), **{k: v.item() for k, v in terms.items()},
                   "acc": compute_accuracy(output, label)[0].item()}
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
        if self.scaler is None:
            return
        if "grad_scaler" not in state:
            print("The checkpoint has no GradScaler state (an AMP run of an older version): "
                  "the scaler starts afresh, so the resumed run will not repeat an "
                  "uninterrupted one exactly")
            return
        self.scaler.load_state_dict(state["grad_scaler"])

    def parse_batch_train(self, batch):
        return batch["img"].to(self.device), batch["label"].to(self.device)
