"""Foreground shift index D_fg = KL(p_full || p_fg) on the test set (paper, Supp. 0.A).

Works with any Dassl trainer: it compares ``trainer.model_inference`` on each test
image and on its foreground view. Lower means the prediction rests on the foreground.
A trainer that reports it derives from ``ReportsForegroundShift``.
"""
import torch

from dassl.data.data_manager import build_data_loader

from .losses import kl_divergence
from .masked_data import ForegroundEvalWrapper


@torch.no_grad()
def foreground_shift_index(trainer, tau):
    """Mean KL(softmax(z(x)/tau) || softmax(z(x_fg)/tau)) over the test split."""
    cfg = trainer.cfg
    loader = build_data_loader(
        cfg, sampler_type="SequentialSampler", data_source=trainer.dm.dataset.test,
        batch_size=cfg.DATALOADER.TEST.BATCH_SIZE, tfm=None, is_train=False,
        dataset_wrapper=ForegroundEvalWrapper)
    trainer.set_model_mode("eval")
    total, count = 0.0, 0
    for batch in trainer.evaluation_batches("foreground_shift", loader):
        logits = trainer.model_inference(batch["img"].to(trainer.device))
        logits_fg = trainer.model_inference(batch["img_fg"].to(trainer.device))
        total += kl_divergence(logits.float(), logits_fg.float(), tau).sum().item()
        count += logits.shape[0]
    return total / count


class ReportsForegroundShift:
    """Mixin for a trainer with a run record (``fvgpt.run_record``): ``result.json`` gains
    ``d_fg``, measured with ``TRAINER.FVGPT.TAU`` when ``TEST.FOREGROUND_SHIFT_INDEX`` is set,
    else null."""

    def evaluation_batches(self, name, loader):
        """The batches of the evaluation pass ``name`` over ``loader`` (a trainer may serve
        them from a cache)."""
        return loader

    def result_measures(self):
        d_fg = None
        if self.cfg.TEST.get("FOREGROUND_SHIFT_INDEX"):  # also in repositories that lack the key
            d_fg = foreground_shift_index(self, self.cfg.TRAINER.FVGPT.TAU)
            print(f"* foreground shift index D_fg: {d_fg:.4f}")
        return {**super().result_measures(), "d_fg": d_fg}
