"""The Dassl glue shared by every FVG-PT trainer: frozen backbone + FVGPTHead + masked data."""
import os
import re

import torch

from dassl.metrics import compute_accuracy
from dassl.optim import build_lr_scheduler, build_optimizer
from dassl.utils import count_num_param

from . import built_on
from .backbone_settings import adopt_backbone_settings
from .checkpoints import CheckpointError, read_checkpoint, saved_checkpoint
from .clip_loader import clip_from_config
from .dassl_backend import engine_description
from .foreground_shift import ReportsForegroundShift
from .masked_data import FG_FILLS, MaskedImageDatasetWrapper
from .masks import CHECKER, MaskError, audit_masks
from .model import FVGPT
from .modules import FVGPTHead
from .replay import ReplayCache
from .results import RESULT_FILE
from .resume import ResumableTrainerX
from .run_folder import RECORD_FILE
from .templates import template_for
from .training_images import check_same_training_images, training_images

CHOICES = {"PREC": ("fp16", "fp32", "amp"), "MISSING_MASK": ("error", "full"),
           "EMPTY_MASK": ("error", "keep"), "TEST_BRANCH": ("auto", "fdc", "pc"),
           "FG_FILL": FG_FILLS}
META_KEY = "fvgpt_meta"  # the head checkpoint's record of its backbone


def resolve_test_branch(test_branch, subsample_classes):
    """``auto``: z_PC on new classes, z_FDC on base (or all) classes; else as configured."""
    if test_branch != "auto":
        return test_branch
    return "pc" if subsample_classes == "new" else "fdc"


def resolve_test_branch_for_classes(test_branch, trained_on, dataset_name, classnames):
    """``auto``: z_FDC on the classes the head was trained on (same data set and class names,
    e.g. a cross-dataset source), z_PC on any other classes or data set; else as configured."""
    if test_branch != "auto":
        return test_branch
    same = trained_on["dataset"] == dataset_name and list(trained_on["classnames"]) == list(classnames)
    return "fdc" if same else "pc"


class FVGPTTrainer(ReportsForegroundShift, ResumableTrainerX):
    """FVG-PT tuned on top of a frozen, already-tuned backbone.

    Subclasses set ``backbone_class`` to a backbone adapter (see ``fvgpt.backbones``).
    ``self.model`` (``fvgpt.model.FVGPT``) trains and predicts; only its head, registered as
    ``fvgpt_head``, is trained and checkpointed. Head checkpoints record the backbone under
    ``fvgpt_meta``, so evaluation finds (and insists on) the same backbone.
    """

    backbone_class = None
    dataset_wrapper = MaskedImageDatasetWrapper  # foreground views on the training set
    replay = ReplayCache()  # inactive; before_train sets the run's (TRAINER.FVGPT.REPLAY_CACHE)

    def check_cfg(self, cfg):
        print(f"Dassl engine: {engine_description()}")
        fv = cfg.TRAINER.FVGPT
        for key, allowed in CHOICES.items():
            if fv[key] not in allowed:
                raise ValueError(f"TRAINER.FVGPT.{key} must be one of {allowed}, got {fv[key]!r}")

    def build_model(self):
        cfg, fv = self.cfg, self.cfg.TRAINER.FVGPT
        self.backbone = self.backbone_meta = None
        self.inputs_checked = False
        if fv.BACKBONE_DIR:
            self.adopt_backbone_settings(fv.BACKBONE_DIR, fv.BACKBONE_EPOCH)
            self.build_backbone()
            self.load_backbone(fv.BACKBONE_DIR, fv.BACKBONE_EPOCH)
            embed_dim, logit_scale = self.backbone.clip_class_features.shape[1], self.backbone.logit_scale
        else:  # evaluation: load_model builds the backbone its checkpoint records, with its settings
            clip_model = clip_from_config(cfg, fv.PREC, self.device)
            embed_dim, logit_scale = clip_model.text_projection.shape[1], clip_model.logit_scale.exp()
        self.head = FVGPTHead.from_config(fv, embed_dim, logit_scale).to(self.device)
        print(f"s_FDC = {self.head.fdc_logit_scale:.2f}")
        print(f"# FVG-PT learnable parameters: {count_num_param(self.head):,}")
        self.optim = build_optimizer(self.head, cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, cfg.OPTIM)
        self.register_model("fvgpt_head", self.head, self.optim, self.sched)
        self.model = FVGPT(self.backbone, self.head)  # evaluation: load_model sets the backbone
        self.test_branch = resolve_test_branch(fv.TEST_BRANCH, cfg.DATASET.SUBSAMPLE_CLASSES)
        print(f"Test-time branch: {self.test_branch}")
        self.substituted_masks = set()

    def build_backbone(self):
        """The frozen backbone, built from the config (not yet loaded)."""
        cfg, fv = self.cfg, self.cfg.TRAINER.FVGPT
        clip_model = clip_from_config(cfg, fv.PREC, self.device)
        template = fv.CLIP_TEMPLATE or template_for(cfg.DATASET.NAME)
        print(f"Zero-shot prior prompt: {template!r}")
        self.backbone = self.backbone_class(cfg, self.dm.dataset.classnames, clip_model, template)
        self.backbone.to(self.device)

    def adopt_backbone_settings(self, run_dir, epoch):
        """Take what the backbone run fixes from the run into the config (fvgpt.backbone_settings)."""
        self.take_backbone_settings(self.cfg, run_dir, epoch)

    @classmethod
    def take_backbone_settings(cls, cfg, run_dir, epoch):
        """``adopt_backbone_settings`` on a config before the trainer exists (for a train.py
        that records the config first, so that the record holds the values used)."""
        backbone = cls.backbone_class
        path, shapes = backbone.checkpoint_settings(run_dir, epoch)
        adopt_backbone_settings(cfg, run_dir, backbone.settings_keys, shapes, path,
                                backbone.unverifiable_settings)

    def load_backbone(self, run_dir, epoch):
        """Load the frozen backbone and describe it in ``self.backbone_meta`` (saved with the head).

        Refuses an unfinished backbone run (unless ALLOW_UNFINISHED_BACKBONE) and one built on
        other CLIP weights than this run's.
        """
        finished = self.check_backbone_finished(run_dir)
        try:
            path = self.backbone.load(run_dir, epoch)
        except (ValueError, RuntimeError) as err:  # e.g. a context of another CLIP's width
            if not isinstance(err, CheckpointError):
                self.check_backbone_clip(run_dir, self.backbone.checkpoint_path(run_dir, epoch))
            raise
        self.check_backbone_clip(run_dir, path)
        digest = built_on.file_sha256(path)
        saved_epoch = re.search(r"-(\d+)$", path)
        self.backbone_path = path
        self.backbone_meta = {
            "dir": os.path.abspath(run_dir), "epoch": int(saved_epoch[1]) if saved_epoch else epoch,
            "checkpoint": os.path.abspath(path), "checkpoint_sha256": digest, "finished": finished,
            "trainer": self.cfg.TRAINER.NAME.replace("FVGPT_", "", 1),
            "dataset": self.cfg.DATASET.NAME, "seed": self.cfg.SEED,
            "subsample_classes": self.cfg.DATASET.SUBSAMPLE_CLASSES,
            "classnames": list(self.dm.dataset.classnames),
            "training_images_sha256": training_images(self.cfg, self.dm.dataset)["sha256"],
        }
        print(f"Frozen backbone loaded from {path}")

    def check_backbone_finished(self, run_dir):
        """True for a finished backbone run, None when it was not made by fvgpt's train.py."""
        if not os.path.isfile(os.path.join(run_dir, RECORD_FILE)):
            print(f"Note: {run_dir} has no {RECORD_FILE} (trained elsewhere?), so whether that "
                  "backbone run finished cannot be checked.")
            return None
        if os.path.isfile(os.path.join(run_dir, RESULT_FILE)):
            return True
        if not self.cfg.TRAINER.FVGPT.ALLOW_UNFINISHED_BACKBONE:
            raise built_on.BuiltOnError(
                f"The backbone run {run_dir} is unfinished (no {RESULT_FILE}: killed, failed or "
                "still running). Finish it first (run its command again: it resumes), or set "
                "TRAINER.FVGPT.ALLOW_UNFINISHED_BACKBONE True to build on its latest checkpoint "
                "(recorded as unfinished).")
        print(f"Warning: building on the unfinished backbone run {run_dir} "
              "(TRAINER.FVGPT.ALLOW_UNFINISHED_BACKBONE).")
        return False

    def check_backbone_clip(self, run_dir, path):
        """Refuse a backbone checkpoint recorded as built on other CLIP weights than this run's."""
        if not os.path.isfile(path):
            return
        recorded = read_checkpoint(path, "backbone checkpoint", "").get(built_on.KEY)
        built_on.check_same(
            recorded, {"clip_weights": built_on.clip_weights(self.cfg)},
            f"The backbone checkpoint {path}",
            "Set MODEL.BACKBONE.NAME to the CLIP weights that backbone was trained with, or "
            "point TRAINER.FVGPT.BACKBONE_DIR to a backbone trained with these.",
            parts=["clip_weights"])

    def built_on(self):
        """Also the backbone checkpoint: its file, SHA-256 and whether its run had finished."""
        parts = dict(super().built_on())
        if self.backbone_meta is not None:
            meta = self.backbone_meta
            parts["backbone"] = {"file": meta["checkpoint"], "sha256": meta["checkpoint_sha256"],
                                 "finished": meta["finished"]}
        return parts

    def require_backbone(self):
        if self.backbone_meta is None:
            raise ValueError(
                "TRAINER.FVGPT.BACKBONE_DIR is empty: set it to the --output-dir of the "
                f"{self.cfg.TRAINER.NAME.replace('FVGPT_', '', 1)} run to build on (evaluation "
                "with --model-dir takes it from the FVG-PT checkpoint).")

    def checkpoint_extras(self, epoch):
        """Every head checkpoint also records its backbone under ``fvgpt_meta``."""
        return {**super().checkpoint_extras(epoch), META_KEY: self.backbone_meta}

    def check_backbone_of_checkpoint(self, checkpoint, path):
        """Load the head's own backbone when none is configured; refuse another backbone."""
        meta = checkpoint.get(META_KEY)
        fv = self.cfg.TRAINER.FVGPT
        if meta is None:
            print(f"Note: {path} does not record its backbone; using "
                  f"TRAINER.FVGPT.BACKBONE_DIR={fv.BACKBONE_DIR!r} unchecked.")
            self.require_backbone()
            return
        if self.backbone_meta is None:
            print(f"Backbone from the checkpoint's record: {meta['dir']} (epoch {meta['epoch']})")
            self.adopt_backbone_settings(meta["dir"], meta["epoch"])
            self.build_backbone()
            self.load_backbone(meta["dir"], meta["epoch"])
            self.model.backbone = self.backbone
            # s_FDC as FVGPTHead.from_config sets it, now that the backbone is known
            self.head.fdc_logit_scale = fv.FDC_LOGIT_SCALE or float(self.backbone.logit_scale)
            print(f"s_FDC = {self.head.fdc_logit_scale:.2f}")
        mine = self.backbone_meta
        if mine["checkpoint_sha256"] != meta["checkpoint_sha256"]:
            fix = ("That file has changed since (a new run in the same folder?): restore it, or "
                   "train FVG-PT again on it." if mine["checkpoint"] == meta["checkpoint"] else
                   "Leave TRAINER.FVGPT.BACKBONE_DIR empty to use the recorded one, or set it "
                   "(and BACKBONE_EPOCH) to that run.")
            raise ValueError(
                f"The FVG-PT head {path} was trained on the backbone {meta['checkpoint']} "
                f"({meta['trainer']}, {meta['dataset']}, epoch {meta['epoch']}, sha256 "
                f"{meta['checkpoint_sha256'][:12]}), but this run loaded {mine['checkpoint']} "
                f"(sha256 {mine['checkpoint_sha256'][:12]}), another backbone. {fix}")

    def check_same_shots(self):
        """FVG-PT trains on exactly the backbone run's training images (paper, Sec. 4.1)."""
        own = training_images(self.cfg, self.dm.dataset)
        check_same_training_images(own, self.cfg.TRAINER.FVGPT.BACKBONE_DIR)

    def test(self, split=None):
        """Dassl's test; with a replay cache its backbone outputs are recorded or replayed."""
        self.require_backbone()
        if not self.replay.folder:  # an evaluation-only run: no before_train
            self.replay = ReplayCache.for_trainer(self)
        loaders = self.val_loader, self.test_loader
        self.val_loader, self.test_loader = (
            loader and self.evaluation_batches(name, loader)
            for name, loader in zip(("val", "test"), loaders))
        try:
            return super().test(split)
        finally:
            self.val_loader, self.test_loader = loaders

    def evaluation_batches(self, name, loader):
        """The batches of the evaluation pass ``name`` (fvgpt.replay)."""
        return self.replay.evaluation(self, f"{name}-{self.test_branch}", loader)

    def check_inputs(self):
        """The backbone, its classes and training images, and the training masks."""
        if self.inputs_checked:
            return
        self.require_backbone()
        trained = self.backbone.trained_classes
        if trained is not None and trained != self.num_classes:
            raise ValueError(
                f"Backbone checkpoint {self.backbone_path} was trained on {trained} classes "
                f"(rows of its key '{self.backbone.trained_classes_key}'), "
                f"but FVG-PT trains on {self.num_classes}: tune FVG-PT on the backbone's own "
                "training classes (same dataset, DATASET.SUBSAMPLE_CLASSES and seed)."
            )
        self.check_same_shots()
        self.check_training_masks()
        self.inputs_checked = True

    def before_train(self):
        self.check_inputs()
        super().before_train()
        self.replay = ReplayCache.for_trainer(self)

    def check_training_masks(self):
        """Fail before the first epoch if a training mask would stop the run."""
        fv = self.cfg.TRAINER.FVGPT
        report = audit_masks([d.impath for d in self.dm.dataset.train_x], self.cfg.DATASET.ROOT,
                             fv.MASK_ROOT, fv.MASK_THRESHOLD, fv.MASK_EXT)
        failures = report.failure_text(fv.MISSING_MASK, fv.EMPTY_MASK)
        if failures:
            raise MaskError(f"Training masks that would stop the run:\n{failures}\n"
                            f"Check the whole folder with `{CHECKER}`.")
        print(f"Training masks checked: {report.n_found - len(report.empty)} ok "
              f"({len(report.resized)} resized to their image), {len(report.missing)} missing, "
              f"{len(report.empty)} empty")

    def parse_batch_train(self, batch):
        keys = ("img", "img_fg", "mask", "label")
        return [batch[k].to(self.device) for k in keys]

    def backbone_outputs(self, batch):
        """What the head consumes from a training batch: the frozen backbone's no-grad passes."""
        return self.model.backbone_outputs(*self.parse_batch_train(batch))

    def run_epoch(self):
        with self.replay.epoch(self):  # records or replays backbone_outputs (fvgpt.replay)
            super().run_epoch()

    def forward_backward(self, batch):
        inputs = self.replay.head_inputs(batch, self.backbone_outputs)
        out = self.model.losses(inputs)
        self.model_backward_and_update(out["loss"])
        self.substituted_masks.update(
            p for p, s in zip(batch["impath"], batch["mask_substituted"].tolist()) if s)

        summary = {k: out[k].item() for k in ("loss", "loss_frg", "loss_dist", "loss_pc",
                                               "gate_r", "gate_b")}
        summary["acc"] = compute_accuracy(out["logits_fdc"], inputs["label"])[0].item()
        if (self.batch_idx + 1) == self.num_batches:
            self.update_lr()
        return summary

    @torch.no_grad()
    def model_inference(self, image):
        """Base classes: z_FDC; new classes: z_PC (``self.test_branch``; the two never mix)."""
        model, branch = self.model, self.test_branch
        inputs = self.replay.inference_inputs(image, lambda x: model.test_inputs(x, branch))
        return model.test_logits(inputs, branch)

    def load_model(self, directory, epoch=None):
        """Load a saved ``fvgpt_head`` (epoch None: ``saved_checkpoint``'s rule)."""
        try:
            path = saved_checkpoint(os.path.join(directory, "fvgpt_head"), epoch, "FVG-PT head checkpoint")
        except FileNotFoundError as err:
            raise CheckpointError(f"{err} Pass the --output-dir of a finished FVG-PT training run "
                                  "as --model-dir.") from None
        checkpoint = read_checkpoint(
            path, "FVG-PT head checkpoint",
            "Pass the --output-dir of a finished FVG-PT training run as --model-dir and one of "
            "its saved epochs as --load-epoch; if the file is damaged, run that training "
            "again (same command: it resumes, or retrains with --start-over).")
        self.check_backbone_of_checkpoint(checkpoint, path)
        built_on.check_same(
            checkpoint.get(built_on.KEY), self.built_on(), path,
            "Set MODEL.BACKBONE.NAME to the CLIP weights the head was trained with.",
            parts=["clip_weights"])
        self.head.load_state_dict(checkpoint["state_dict"])
        print(f"Loaded {path} (epoch {checkpoint['epoch']})")
        self.choose_test_branch(checkpoint.get("fvgpt_meta") or {}, path)

    def choose_test_branch(self, record, path):
        """TEST_BRANCH auto from the head's record of the data set and classes it was trained on."""
        if "classnames" not in record:
            print(f"Note: {path} does not record the classes it was trained on; TEST_BRANCH auto "
                  f"falls back to DATASET.SUBSAMPLE_CLASSES ({self.test_branch}).")
            return
        self.test_branch = resolve_test_branch_for_classes(
            self.cfg.TRAINER.FVGPT.TEST_BRANCH, record, self.cfg.DATASET.NAME, self.dm.dataset.classnames)
        print(f"Test-time branch: {self.test_branch} (head trained on {record['dataset']}, "
              f"{len(record['classnames'])} classes; evaluating {self.cfg.DATASET.NAME}, "
              f"{len(self.dm.dataset.classnames)} classes)")

    def trainer_state(self):
        return {**super().trainer_state(), "substituted_masks": sorted(self.substituted_masks)}

    def load_trainer_state(self, state):
        super().load_trainer_state(state)
        self.substituted_masks = set(state["substituted_masks"])

    def after_train(self):
        if self.cfg.TRAINER.FVGPT.MISSING_MASK == "full":
            print(f"Images trained with a whole-image mask (mask file missing): "
                  f"{len(self.substituted_masks)}")
        super().after_train()
