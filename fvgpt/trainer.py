"""The Dassl glue shared by every FVG-PT trainer: frozen backbone + FVGPTHead + masked data."""
import os

import torch

from dassl.data import DataManager
from dassl.engine import TrainerX
from dassl.metrics import compute_accuracy
from dassl.optim import build_lr_scheduler, build_optimizer
from dassl.utils import count_num_param

from .clip_loader import clip_from_config
from .masked_data import MaskedDatasetWrapper
from .masks import audit_masks, MaskError
from .modules import FVGPTHead
from .templates import template_for

CHOICES = {"PREC": ("fp16", "fp32", "amp"), "MISSING_MASK": ("error", "full"),
           "EMPTY_MASK": ("error", "keep"), "TEST_BRANCH": ("auto", "fdc", "pc")}


def resolve_test_branch(test_branch, subsample_classes):
    """``auto``: z_PC on new classes, z_FDC on base (or all) classes; else as configured."""
    if test_branch != "auto":
        return test_branch
    return "pc" if subsample_classes == "new" else "fdc"


class FVGPTTrainer(TrainerX):
    """FVG-PT tuned on top of a frozen, already-tuned backbone.

    Subclasses set ``backbone_class`` to a backbone adapter (see ``fvgpt.backbones``).
    Only the ``fvgpt_head`` model is trained and checkpointed.
    """

    backbone_class = None

    def check_cfg(self, cfg):
        fv = cfg.TRAINER.FVGPT
        for key, allowed in CHOICES.items():
            if fv[key] not in allowed:
                raise ValueError(f"TRAINER.FVGPT.{key} must be one of {allowed}, got {fv[key]!r}")
        if not fv.BACKBONE_DIR:
            raise ValueError("TRAINER.FVGPT.BACKBONE_DIR is empty: set it to the --output-dir "
                             f"of the {self.backbone_class.__name__} run to build on.")

    def build_data_loader(self):
        """Dassl's data loaders, with foreground views on the training set."""
        dm = DataManager(self.cfg, dataset_wrapper=MaskedDatasetWrapper)
        self.train_loader_x, self.train_loader_u = dm.train_loader_x, dm.train_loader_u
        self.val_loader, self.test_loader = dm.val_loader, dm.test_loader
        self.num_classes, self.num_source_domains = dm.num_classes, dm.num_source_domains
        self.lab2cname, self.dm = dm.lab2cname, dm

    def build_model(self):
        cfg, fv = self.cfg, self.cfg.TRAINER.FVGPT
        clip_model = clip_from_config(cfg, fv.PREC, self.device)
        template = fv.CLIP_TEMPLATE or template_for(cfg.DATASET.NAME)
        print(f"Zero-shot prior prompt: {template!r}")
        self.backbone = self.backbone_class(cfg, self.dm.dataset.classnames, clip_model, template)
        self.backbone.to(self.device)
        self.backbone_path = self.backbone.load(fv.BACKBONE_DIR, fv.BACKBONE_EPOCH)
        print(f"Frozen backbone loaded from {self.backbone_path}")
        embed_dim = self.backbone.clip_class_features.shape[1]
        self.head = FVGPTHead.from_config(fv, embed_dim).to(self.device)
        print(f"# FVG-PT learnable parameters: {count_num_param(self.head):,}")
        self.optim = build_optimizer(self.head, cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, cfg.OPTIM)
        self.register_model("fvgpt_head", self.head, self.optim, self.sched)
        self.test_branch = resolve_test_branch(fv.TEST_BRANCH, cfg.DATASET.SUBSAMPLE_CLASSES)
        print(f"Test-time branch: {self.test_branch}")
        self.substituted_masks = set()

    def before_train(self):
        trained = self.backbone.trained_classes
        if trained is not None and trained != self.num_classes:
            raise ValueError(
                f"Backbone checkpoint {self.backbone_path} was trained on {trained} classes, "
                f"but FVG-PT trains on {self.num_classes}: tune FVG-PT on the backbone's own "
                "training classes (same dataset, DATASET.SUBSAMPLE_CLASSES and seed)."
            )
        self.check_training_masks()
        super().before_train()

    def check_training_masks(self):
        """Fail before the first epoch if a training mask would stop the run."""
        fv = self.cfg.TRAINER.FVGPT
        report = audit_masks([d.impath for d in self.dm.dataset.train_x], self.cfg.DATASET.ROOT,
                             fv.MASK_ROOT, fv.MASK_THRESHOLD)
        failures = report.failures(fv.MISSING_MASK, fv.EMPTY_MASK)
        if failures:
            lines = [f"  {kind}: {len(entries)}, e.g. "
                     + ", ".join(e if isinstance(e, str) else e[0] for e in entries[:3])
                     for kind, entries in failures.items()]
            raise MaskError(
                "Training masks that would stop the run:\n" + "\n".join(lines) + "\nCheck the "
                "folder with `python -m masks.check_masks`, fix the files, or choose "
                "TRAINER.FVGPT.MISSING_MASK full / EMPTY_MASK keep."
            )
        print(f"Training masks checked: {report.n_found - len(report.empty)} ok, "
              f"{len(report.missing)} missing, {len(report.empty)} empty")

    def parse_batch_train(self, batch):
        keys = ("img", "img_fg", "mask", "label")
        return [batch[k].to(self.device) for k in keys]

    def forward_backward(self, batch):
        image, image_fg, mask, label = self.parse_batch_train(batch)
        backbone = self.backbone
        features = backbone.image_features(image)
        logits = backbone.logits(features)
        logits_fg = backbone.logits(backbone.image_features(image_fg))
        logits_clip = backbone.clip_logits(backbone.clip_image_features(image, features))
        out = self.head.losses(backbone.fdc_features(features), backbone.class_features, logits,
                               logits_fg, logits_clip, mask, label)
        self.model_backward_and_update(out["loss"])
        self.substituted_masks.update(
            p for p, s in zip(batch["impath"], batch["mask_substituted"].tolist()) if s)

        summary = {k: out[k].item() for k in ("loss", "loss_frg", "loss_dist", "loss_pc",
                                               "gate_r", "gate_b")}
        summary["acc"] = compute_accuracy(out["logits_fdc"], label)[0].item()
        if (self.batch_idx + 1) == self.num_batches:
            self.update_lr()
        return summary

    @torch.no_grad()
    def model_inference(self, image):
        """Base classes: z_FDC; new classes: z_PC (the two branches never mix)."""
        features = self.backbone.image_features(image)
        if self.test_branch == "fdc":
            return self.head.fdc_logits(self.backbone.fdc_features(features),
                                        self.backbone.class_features)
        logits = self.backbone.logits(features)
        logits_clip = self.backbone.clip_logits(self.backbone.clip_image_features(image, features))
        return self.head.pc_logits(logits, logits_clip)[0]

    def load_model(self, directory, epoch=None):
        """Load a saved ``fvgpt_head`` (epoch None: ``model-best.pth.tar``, as in Dassl)."""
        name = f"model.pth.tar-{epoch}" if epoch else "model-best.pth.tar"
        path = os.path.join(directory, "fvgpt_head", name)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"FVG-PT checkpoint not found: {path}. Pass the --output-dir "
                                    "of an FVG-PT training run as --model-dir, and a saved "
                                    "--load-epoch.")
        # Dassl checkpoints pickle the scheduler, so torch's weights-only loading refuses them.
        checkpoint = torch.load(path, map_location=self.device, weights_only=False)
        self.head.load_state_dict(checkpoint["state_dict"])
        print(f"Loaded {path} (epoch {checkpoint['epoch']})")

    def after_train(self):
        if self.cfg.TRAINER.FVGPT.MISSING_MASK == "full":
            print(f"Images trained with a whole-image mask (mask file missing): "
                  f"{len(self.substituted_masks)}")
        super().after_train()
