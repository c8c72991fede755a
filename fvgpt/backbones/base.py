"""The backbone contract: what FVG-PT needs from a tuned prompt learner, and how it is tuned.

Every adapter in ``fvgpt.backbones`` derives from ``FrozenBackbone`` and fills in the
abstract members; the shared constructor builds the backbone's own model (``build_model``),
plain CLIP's class features g_CLIP(t_CLIP) for the prior, and freezes everything. The static
members ``build_tuning_model``, ``trainable_parameters`` and ``tuning_loss`` say how the
backbone itself is trained: its Dassl trainer and the efficiency benchmark use them.
docs/adding_a_backbone.md walks through a new one.
"""
import abc

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..checkpoints import CheckpointError, read_checkpoint
from ..clip_import import clip


def tokenize_classnames(classnames, template):
    """CLIP tokens of ``template`` filled with each class name (underscores as spaces)."""
    return clip.tokenize([template.format(c.replace("_", " ")) for c in classnames])


@torch.no_grad()
def clip_class_features(clip_model, classnames, template):
    """g_CLIP(t_CLIP): plain CLIP's L2-normalised text features of the hand-written prompts."""
    tokens = tokenize_classnames(classnames, template).to(clip_model.logit_scale.device)
    return F.normalize(clip_model.encode_text(tokens).float(), dim=-1)


def read_backbone_state_dict(path, method, key):
    """The ``state_dict`` of a backbone run's checkpoint (``method``: CoOp, MMRL, ...), which
    must hold ``key``; errors name the file and what to do."""
    checkpoint = read_checkpoint(
        path, f"{method} checkpoint",
        f"Train {method} with the same dataset and seed first (if the file is damaged, run that "
        "training again: the same command resumes it, --start-over retrains), or point "
        "TRAINER.FVGPT.BACKBONE_DIR / BACKBONE_EPOCH (or --model-dir / --load-epoch) to an "
        "intact checkpoint.")
    state_dict = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    if state_dict is None or key not in state_dict:
        raise CheckpointError(f"{path} is not a {method} checkpoint (no state_dict[{key!r}]): "
                              f"pass a {method} run's --output-dir.")
    return state_dict


class FrozenBackbone(nn.Module, abc.ABC):
    """A tuned backbone as FVG-PT sees it (docs/spec.md, Sec. 2): image features f(x), the
    logits z(x) = s f(x)^T g(t), the FDC adapter's input, and the zero-shot prior z_CLIP(x).

    Class attributes each adapter sets:
    ``method``: the backbone trainer's name (``--trainer``), used in messages;
    ``trained_classes_key``: the checkpoint key whose rows are the classes it was trained on;
    ``settings_keys``: config keys the backbone run fixes (read by ``fvgpt.backbone_settings``);
    ``unverifiable_settings``: {key: why it matters} for those no checkpoint shape confirms.
    """

    method = None
    trained_classes_key = None
    settings_keys = ()
    unverifiable_settings = {}

    def __init__(self, cfg, classnames, clip_model, clip_template):
        super().__init__()
        self.model = self.build_model(cfg, classnames, clip_model)
        self.register_buffer("clip_class_features", clip_class_features(clip_model, classnames, clip_template))
        self.register_buffer("class_features", torch.empty(0))  # g(t), set by ``load``
        self.trained_classes = None
        self.requires_grad_(False)
        self.eval()

    @staticmethod
    @abc.abstractmethod
    def build_model(cfg, classnames, clip_model):
        """The backbone's own model, untrained."""

    @classmethod
    def build_tuning_model(cls, cfg, classnames, clip_model):
        """The model its trainer tunes (by default ``build_model``'s)."""
        return cls.build_model(cfg, classnames, clip_model)

    @staticmethod
    @abc.abstractmethod
    def trainable_parameters(model):
        """The parameters of a tuning model that the backbone's trainer optimises."""

    @classmethod
    def tuning_parts(cls, cfg, classnames, clip_model, device):
        """(tuning model on ``device`` with only ``trainable_parameters`` trainable, those
        parameters, ``tuning_loss``): how the backbone's trainer tunes it."""
        model = cls.build_tuning_model(cfg, classnames, clip_model).to(device)
        trainable = cls.trainable_parameters(model)
        model.requires_grad_(False)
        for param in trainable:
            param.requires_grad_(True)
        return model, trainable, cls.tuning_loss(cfg, model, clip_model, classnames)

    @staticmethod
    def tuning_loss(cfg, model, clip_model, classnames):
        """The backbone's training loss on ``model``, as a function (image, label) -> (loss,
        logits, {term: value}); by default cross-entropy on ``model(image)`` (CoOp's)."""
        def loss(image, label):
            output = model(image)
            return F.cross_entropy(output, label), output, {}
        return loss

    @classmethod
    @abc.abstractmethod
    def checkpoint_path(cls, run_dir, epoch):
        """The run's checkpoint file for ``epoch`` (``fvgpt.checkpoints.saved_checkpoint``'s rule)."""

    @classmethod
    @abc.abstractmethod
    def checkpoint_settings(cls, run_dir, epoch):
        """(checkpoint path, {config key: value} its tensor shapes fix)."""

    @abc.abstractmethod
    def load_checkpoint(self, run_dir, epoch):
        """Load the run's tuned weights into ``self.model``; returns (path, trained classes or None)."""

    def load(self, run_dir, epoch):
        """Load the tuned run and compute what inference keeps fixed; returns the checkpoint path."""
        path, self.trained_classes = self.load_checkpoint(run_dir, epoch)
        self.cache_inference_state()
        return path

    @torch.no_grad()
    def cache_inference_state(self):
        """Compute from the model's current weights what inference keeps fixed: g(t)."""
        self.class_features = self.model.encode_classes()

    @property
    def logit_scale(self):
        """s, the backbone's logit scale."""
        return self.model.logit_scale.exp().float()

    @abc.abstractmethod
    def image_features(self, image):
        """f(x) (whatever ``logits`` and ``fdc_features`` take)."""

    def fdc_features(self, image_features):
        """The image vector the FDC adapter refines: f(x)."""
        return image_features

    @abc.abstractmethod
    def clip_image_features(self, image, image_features):
        """f_CLIP(x), plain CLIP's image features (f(x) itself where the image encoder is CLIP's)."""

    @torch.no_grad()
    def logits(self, image_features):
        """z(x) = s f(x)^T g(t)."""
        return self.logit_scale * image_features @ self.class_features.t()

    @torch.no_grad()
    def clip_logits(self, clip_image_features):
        """z_CLIP(x) = s f_CLIP(x)^T g_CLIP(t_CLIP)."""
        return self.logit_scale * clip_image_features @ self.clip_class_features.t()
