"""MMRL (Guo & Gu, CVPR 2025): shared representation tokens in the upper layers of both encoders.

Written for the pip ``clip`` package from the upstream code
(yunncheng/MMRL at 27d8821: trainers/mmrl.py, clip/model_mmrl.py):

- R: ``N_REP_TOKENS`` learnable tokens of width ``REP_DIM``, one linear map per layer in
  ``REP_LAYERS`` into each encoder (``r2vproj``, ``r2tproj``). At the first of those
  layers the mapped tokens are inserted after CLS (image) or after the start token (text);
  at the later ones they replace those positions. The text sequence is then 77 + N long
  and gets its own causal mask; its feature is read at the end-of-text token + N.
- f_rep = mean of ln_post over the R positions, projected by the new ``proj_rep``.
- Logits use the fixed scale 100; z_fusion = alpha z_cls + (1 - alpha) z_rep.
- The test-time branch follows ``TASK`` (``mmrl_branch``).

State-dict keys equal upstream's ``CustomCLIP``, so ``<run>/MultiModalRepresentationLearner/
model.pth.tar-N`` (older runs: ``MultiModalPromptLearner``) loads unchanged.
"""
import copy
import os
import re
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from yacs.config import CfgNode as CN

from ..checkpoints import saved_checkpoint
from ..templates import template_for
from .base import FrozenBackbone, clip_class_features, read_backbone_state_dict, tokenize_classnames
from .prompted_clip import (Insert, Replace, image_tokens, run_text, run_visual, text_features,
                            visual_features)

LOGIT_SCALE = 100.0  # MMRL's fixed logit scale (trainers/mmrl.py, CustomCLIP.forward)
CHECKPOINT_FOLDERS = ("MultiModalRepresentationLearner", "MultiModalPromptLearner")
TRAINABLE = ("representation_learner.", "image_encoder.proj_rep")  # yunncheng/MMRL trainers/mmrl.py:291-300
TASKS = ("B2N", "CD", "FS")
FDC_FEATURES = ("cls", "rep", "fusion")
_R2V = re.compile(r"representation_learner\.compound_rep_tokens_r2vproj\.(\d+)\.weight$")


# Upstream MMRL's per-data-set overrides (yunncheng/MMRL, trainers/config.py), applied by
# upstream's train.py to every run; the FVG-PT authors ran MMRL without them.
DATASET_OVERRIDES = {
    "StanfordCars": {"REG_WEIGHT": 7.0}, "FGVCAircraft": {"REG_WEIGHT": 6.0},
    "SUN397": {"REG_WEIGHT": 6.0}, "DescribableTextures": {"REG_WEIGHT": 6.0},
    "Food101": {"REG_WEIGHT": 5.0}, "OxfordFlowers": {"REG_WEIGHT": 4.0},
    "UCF101": {"REG_WEIGHT": 3.0}, "ImageNet": {"REG_WEIGHT": 0.5},
    "Caltech101": {"REG_WEIGHT": 0.5}, "OxfordPets": {"REG_WEIGHT": 0.2},
    "EuroSAT": {"REP_DIM": 2048, "REG_WEIGHT": 0.01},
}


def add_config(cfg):
    """MMRL's keys with upstream's defaults (yunncheng/MMRL, train.py extend_cfg), plus TASK."""
    c = cfg.TRAINER.MMRL = CN()
    c.ALPHA = 0.7  # weight of the CLS logits in the fused logits and in the loss
    c.REG_WEIGHT = 1.0  # weight of each cosine regulariser towards plain CLIP
    c.REP_LAYERS = []  # 1-based blocks that receive representation tokens, e.g. [6, ..., 12]
    c.REP_DIM = 512  # width of the shared representation tokens R
    c.N_REP_TOKENS = 5
    c.PREC = "fp16"  # fp16, fp32 or amp
    c.DATASET_OVERRIDES = False  # (project) apply upstream's per-data-set table above
    c.FDC_FEATURE = "fusion"  # (project, FVGPT_MMRL) FDC adapter input: cls, rep or fusion (README)
    cfg.TASK = "B2N"  # B2N, CD or FS: selects MMRL's test-time branch (as upstream)


def apply_dataset_overrides(cfg, opts):
    """Upstream's per-data-set MMRL values when TRAINER.MMRL.DATASET_OVERRIDES, then ``opts``
    again so that the command line still wins (upstream's order). ``cfg`` must not be frozen."""
    if cfg.TRAINER.MMRL.DATASET_OVERRIDES:
        for key, value in DATASET_OVERRIDES.get(cfg.DATASET.NAME, {}).items():
            cfg.TRAINER.MMRL[key] = value
        cfg.merge_from_list(opts)


def mmrl_branch(cfg):
    """MMRL's test-time logits for this run: ``"fusion"`` or ``"cls"`` (trainers/mmrl.py:421-428).

    B2N: fusion on the base classes, the CLS head otherwise; FS: fusion; CD: fusion on
    ImageNet (the source), the CLS head on every target data set.
    """
    task = cfg.TASK
    if task == "B2N":
        return "fusion" if cfg.DATASET.SUBSAMPLE_CLASSES == "base" else "cls"
    if task == "FS":
        return "fusion"
    if task == "CD":
        return "fusion" if cfg.DATASET.NAME == "ImageNet" else "cls"
    raise ValueError(f"TASK must be one of {TASKS} (MMRL's test-time branch), got {task!r}")


def fuse(cls_part, rep_part, alpha):
    """MMRL's fusion: alpha * CLS + (1 - alpha) * representation (logits or image features)."""
    return alpha * cls_part + (1 - alpha) * rep_part


def branch_logits(image_features, rep_features, class_features, branch, alpha):
    """MMRL's test-time logits: z_cls = 100 f_cls^T g, or z_fusion = fuse(z_cls, z_rep)."""
    z_cls = LOGIT_SCALE * image_features @ class_features.t()
    if branch == "cls":
        return z_cls
    return fuse(z_cls, LOGIT_SCALE * rep_features @ class_features.t(), alpha)


def mmrl_loss(logits, logits_rep, image_features, text_features, clip_image_features,
              clip_text_features, labels, alpha, reg_weight):
    """MMRL's loss (trainers/mmrl.py:238-255), features L2-normalised:
    alpha CE(z_cls) + (1 - alpha) CE(z_rep) + w (1 - mean cos(f, f_CLIP)) + w (1 - mean cos(g, g_CLIP)).
    """
    ce = alpha * F.cross_entropy(logits, labels) + (1 - alpha) * F.cross_entropy(logits_rep, labels)
    reg_image = 1 - F.cosine_similarity(image_features, clip_image_features, dim=1).mean()
    reg_text = 1 - F.cosine_similarity(text_features, clip_text_features, dim=1).mean()
    return ce + reg_weight * (reg_image + reg_text)


def check_rep_layers(rep_layers, n_blocks, encoder):
    """REP_LAYERS: strictly increasing 1-based block numbers within the encoder's depth."""
    layers = list(rep_layers)
    if layers != sorted(set(layers)) or (layers and not 1 <= layers[0] <= layers[-1] <= n_blocks):
        raise ValueError(f"TRAINER.MMRL.REP_LAYERS={layers} must be increasing block numbers in "
                         f"1..{n_blocks} (the {encoder} encoder's depth), e.g. [6, ..., 12] for ViT-B/16.")
    return layers


def representation_edits(layer_tokens, rep_layers):
    """prompted_clip edits: the tokens go in after position 0 before the first layer of
    ``rep_layers`` (1-based) and replace positions 1..N before each later one."""
    return {layer - 1: (Insert if k == 0 else Replace)(tokens, position=1)
            for k, (layer, tokens) in enumerate(zip(rep_layers, layer_tokens))}


class RepresentationLearner(nn.Module):
    """The shared tokens R and one linear map per layer into each encoder (upstream's learner)."""

    def __init__(self, n_tokens, rep_dim, n_layers, visual_dim, text_dim):
        super().__init__()
        self.compound_rep_tokens = nn.Parameter(torch.empty(n_tokens, rep_dim))
        nn.init.normal_(self.compound_rep_tokens, std=0.02)
        to_visual, to_text = nn.Linear(rep_dim, visual_dim), nn.Linear(rep_dim, text_dim)
        # Upstream clones one initialised layer, so every layer's map starts equal.
        self.compound_rep_tokens_r2vproj = nn.ModuleList(copy.deepcopy(to_visual) for _ in range(n_layers))
        self.compound_rep_tokens_r2tproj = nn.ModuleList(copy.deepcopy(to_text) for _ in range(n_layers))

    def forward(self):
        """Per representation layer: (text tokens, visual tokens), each (N, width)."""
        r = self.compound_rep_tokens
        return ([proj(r) for proj in self.compound_rep_tokens_r2tproj],
                [proj(r) for proj in self.compound_rep_tokens_r2vproj])


class MMRLImageEncoder(nn.Module):
    """CLIP's ViT (its own modules, same key names) returning (f_cls, f_rep), unnormalised.

    It has the attributes prompted_clip reads from a ``visual``, so it runs through it. With
    no representation layers f_cls is plain CLIP's and f_rep (a mean over no tokens) is NaN."""

    def __init__(self, visual, rep_layers):
        super().__init__()
        for name in ("conv1", "class_embedding", "positional_embedding", "ln_pre", "transformer",
                     "ln_post", "proj"):
            setattr(self, name, getattr(visual, name))
        self.rep_layers = check_rep_layers(rep_layers, len(visual.transformer.resblocks), "image")
        width, out_dim = self.proj.shape
        # Upstream's VisionTransformer init for the new head: width^-0.5 * N(0, 1).
        self.proj_rep = nn.Parameter((width ** -0.5 * torch.randn(width, out_dim)).to(self.proj))

    def forward(self, image, layer_tokens):
        out = run_visual(self, image_tokens(self, image),
                         representation_edits(layer_tokens, self.rep_layers))
        n = layer_tokens[0].shape[0] if self.rep_layers else 0
        f_rep = self.ln_post(out[:, 1:1 + n]).mean(dim=1) @ self.proj_rep.to(out.dtype)
        return visual_features(self, out), f_rep


class MMRLTextEncoder(nn.Module):
    """CLIP's text transformer on fixed prompt embeddings plus representation tokens.

    It has the attributes prompted_clip reads from a ``clip_model``, so it runs through it;
    the sequence is 77 + N long from the first representation layer on, with its own mask."""

    def __init__(self, clip_model, rep_layers):
        super().__init__()
        self.positional_embedding = clip_model.positional_embedding
        self.transformer = clip_model.transformer
        self.ln_final = clip_model.ln_final
        self.text_projection = clip_model.text_projection
        self.rep_layers = check_rep_layers(rep_layers, len(self.transformer.resblocks), "text")

    def forward(self, prompt_embeddings, tokenized_prompts, layer_tokens):
        out = run_text(self, prompt_embeddings, representation_edits(layer_tokens, self.rep_layers))
        n = layer_tokens[0].shape[0] if self.rep_layers else 0
        return text_features(self, out, tokenized_prompts.argmax(dim=-1) + n)  # EOT shifted by N


class MMRLCLIP(nn.Module):
    """Upstream's ``CustomCLIP``: the representation learner on CLIP's two encoders."""

    def __init__(self, mmrl_cfg, classnames, clip_model, template):
        super().__init__()
        self.alpha = mmrl_cfg.ALPHA
        self.dtype = clip_model.dtype
        n_layers = len(mmrl_cfg.REP_LAYERS)
        if not n_layers:
            raise ValueError("TRAINER.MMRL.REP_LAYERS is empty: give the blocks that receive the "
                             "representation tokens, e.g. [6, 7, 8, 9, 10, 11, 12] for ViT-B/16.")
        visual_dim = clip_model.visual.ln_post.weight.shape[0]
        text_dim = clip_model.ln_final.weight.shape[0]
        self.representation_learner = RepresentationLearner(
            mmrl_cfg.N_REP_TOKENS, mmrl_cfg.REP_DIM, n_layers, visual_dim, text_dim).to(self.dtype)
        device = clip_model.text_projection.device
        tokens = tokenize_classnames(classnames, template).to(device)
        self.register_buffer("tokenized_prompts", tokens, persistent=False)
        with torch.no_grad():
            self.register_buffer("prompt_embeddings", clip_model.token_embedding(tokens).to(self.dtype))
        self.image_encoder = MMRLImageEncoder(clip_model.visual, mmrl_cfg.REP_LAYERS)
        self.text_encoder = MMRLTextEncoder(clip_model, mmrl_cfg.REP_LAYERS)
        self.representation_learner.to(device)

    def encode_classes(self, text_tokens):
        """L2-normalised class features g(t)."""
        g = self.text_encoder(self.prompt_embeddings, self.tokenized_prompts, text_tokens)
        return F.normalize(g.float(), dim=-1)

    def encode_image(self, image, visual_tokens):
        """L2-normalised (f_cls(x), f_rep(x))."""
        f_cls, f_rep = self.image_encoder(image.to(self.dtype), visual_tokens)
        return F.normalize(f_cls.float(), dim=-1), F.normalize(f_rep.float(), dim=-1)

    @torch.no_grad()
    def inference_state(self):
        """(g(t), visual tokens), computed once for evaluation as upstream caches them."""
        text_tokens, visual_tokens = self.representation_learner()
        return self.encode_classes(text_tokens), visual_tokens

    def forward(self, image):
        """Training pass: (z_cls, z_rep, f_cls, g), everything recomputed from R."""
        text_tokens, visual_tokens = self.representation_learner()
        g = self.encode_classes(text_tokens)
        f_cls, f_rep = self.encode_image(image, visual_tokens)
        return LOGIT_SCALE * f_cls @ g.t(), LOGIT_SCALE * f_rep @ g.t(), f_cls, g


def checkpoint_path(run_dir, epoch=None):
    """An MMRL run's checkpoint (``saved_checkpoint``'s rule), in MultiModalRepresentationLearner/
    or the older MultiModalPromptLearner/ (upstream's load_model instead takes whichever file
    os.listdir lists last)."""
    folders = [os.path.join(run_dir, f) for f in CHECKPOINT_FOLDERS]
    folder = next((f for f in folders if os.path.isdir(f)), None)
    if folder is None:
        raise FileNotFoundError(
            f"No MMRL checkpoint folder in {run_dir} (looked for {' and '.join(CHECKPOINT_FOLDERS)}). "
            "Train MMRL first (same data set, seed and DATASET.SUBSAMPLE_CLASSES base) and pass its "
            "--output-dir (TRAINER.FVGPT.BACKBONE_DIR or --model-dir).")
    return saved_checkpoint(folder, epoch, "MMRL checkpoint (the run did not finish an epoch)")


def load_checkpoint(model, path):
    """Load an upstream-format MMRL checkpoint into ``model`` (an ``MMRLCLIP``).

    The trained keys are copied; ``prompt_embeddings`` (the trained classes' prompts) is dropped
    as upstream does; the frozen CLIP weights it holds must equal the loaded CLIP's. Returns the
    number of classes it was trained on (None for checkpoints older than the buffer).
    """
    state = read_backbone_state_dict(path, "MMRL", "representation_learner.compound_rep_tokens")
    tokens = state["representation_learner.compound_rep_tokens"]
    prompts = state.pop("prompt_embeddings", None)
    n_layers = sum(1 for k in state if _R2V.match(k))
    ours = model.representation_learner
    found = (tokens.shape[0], tokens.shape[1], n_layers)
    expected = (*ours.compound_rep_tokens.shape, len(ours.compound_rep_tokens_r2vproj))
    if found != expected:
        raise ValueError(
            f"MMRL checkpoint {path} has N_REP_TOKENS {found[0]}, REP_DIM {found[1]} and {found[2]} "
            f"representation layers; the config gives {expected[0]}, {expected[1]} and "
            f"{expected[2]}. Set TRAINER.MMRL.N_REP_TOKENS / REP_DIM / REP_LAYERS as in the run "
            "that made it (upstream's EuroSAT runs use REP_DIM 2048; see TRAINER.MMRL.DATASET_OVERRIDES).")
    own = model.state_dict()
    problems = [k for k in own if k != "prompt_embeddings" and k not in state]
    problems += [k for k, v in state.items() if k not in own or v.shape != own[k].shape]
    if problems:
        raise ValueError(f"MMRL checkpoint {path} does not fit this CLIP (MODEL.BACKBONE.NAME): "
                         f"missing or differently shaped keys, e.g. {problems[:3]}.")
    differing = [k for k, v in state.items() if not k.startswith(TRAINABLE)
                 and not torch.allclose(v.float(), own[k].float().cpu(), rtol=1e-3, atol=1e-6)]
    if differing:
        raise ValueError(f"The frozen CLIP weights in {path} differ from the CLIP loaded here "
                         f"(e.g. {differing[:3]}): set MODEL.BACKBONE.NAME to the CLIP the MMRL run used.")
    model.load_state_dict({k: v for k, v in state.items() if k.startswith(TRAINABLE)}, strict=False)
    return None if prompts is None else prompts.shape[0]


class MMRLImageFeatures(NamedTuple):
    """L2-normalised image features of MMRL's two heads."""
    cls: torch.Tensor
    rep: torch.Tensor


class MMRLBackbone(FrozenBackbone):
    """FVG-PT's view of a frozen MMRL model, with MMRL's own branches (paper Supp. 0.B.3).

    z(x) is MMRL's test-time logits for this run (``mmrl_branch``: fused on the base branch,
    CLS on the new one); the FDC adapter sees ``TRAINER.MMRL.FDC_FEATURE`` of the image; the
    prior needs a plain CLIP image pass, since the tokens change the image encoder.
    """

    method = "MMRL"
    trained_classes_key = "prompt_embeddings"
    settings_keys = tuple(f"TRAINER.MMRL.{k}" for k in (
        "REP_LAYERS", "REP_DIM", "N_REP_TOKENS", "ALPHA")) + ("TASK",)
    # Upstream's checkpoint holds one projection per layer but not which blocks they serve: a
    # wrong list of the right length loads and gives wrong logits.
    unverifiable_settings = {"TRAINER.MMRL.REP_LAYERS": "a wrong list of the same length loads "
                             "without error and gives wrong logits"}

    @classmethod
    def checkpoint_path(cls, run_dir, epoch):
        return checkpoint_path(run_dir, epoch)

    @classmethod
    def checkpoint_settings(cls, run_dir, epoch):
        path = cls.checkpoint_path(run_dir, epoch)
        state = read_backbone_state_dict(path, cls.method, "representation_learner.compound_rep_tokens")
        n_tokens, rep_dim = state["representation_learner.compound_rep_tokens"].shape
        return path, {"TRAINER.MMRL.N_REP_TOKENS": n_tokens, "TRAINER.MMRL.REP_DIM": rep_dim}

    def __init__(self, cfg, classnames, clip_model, clip_template):
        mmrl_cfg = cfg.TRAINER.MMRL
        if mmrl_cfg.FDC_FEATURE not in FDC_FEATURES:
            raise ValueError(f"TRAINER.MMRL.FDC_FEATURE must be one of {FDC_FEATURES}, "
                             f"got {mmrl_cfg.FDC_FEATURE!r}")
        branch = mmrl_branch(cfg)
        super().__init__(cfg, classnames, clip_model, clip_template)
        self.fdc_feature = mmrl_cfg.FDC_FEATURE
        self.branch = branch
        self.alpha = mmrl_cfg.ALPHA
        self.clip_visual = clip_model.visual  # the same frozen modules, without tokens
        self.clip_logit_scale = clip_model.logit_scale.exp().item()
        self.visual_tokens = None
        print(f"MMRL branch: {self.branch} logits; FDC adapter input: {self.fdc_feature} feature")

    @staticmethod
    def build_model(cfg, classnames, clip_model):
        return MMRLCLIP(cfg.TRAINER.MMRL, classnames, clip_model, template_for(cfg.DATASET.NAME))

    @staticmethod
    def trainable_parameters(model):
        """The representation learner and ``proj_rep`` (``TRAINABLE``)."""
        return [p for name, p in model.named_parameters() if name.startswith(TRAINABLE)]

    @staticmethod
    def tuning_loss(cfg, model, clip_model, classnames):
        """``mmrl_loss`` towards plain CLIP's image pass and class features; the logits are
        the fused ones."""
        mmrl_cfg = cfg.TRAINER.MMRL
        clip_visual = clip_model.visual
        clip_text = clip_class_features(clip_model, classnames, template_for(cfg.DATASET.NAME))

        def loss(image, label):
            with torch.no_grad():
                clip_image = F.normalize(clip_visual(image.to(model.dtype)).float(), dim=-1)
            logits, logits_rep, image_features, text_features = model(image)
            value = mmrl_loss(logits, logits_rep, image_features, text_features, clip_image,
                              clip_text, label, mmrl_cfg.ALPHA, mmrl_cfg.REG_WEIGHT)
            return value, fuse(logits, logits_rep, mmrl_cfg.ALPHA), {}
        return loss

    def load_checkpoint(self, run_dir, epoch):
        path = self.checkpoint_path(run_dir, epoch)
        return path, load_checkpoint(self.model, path)

    def cache_inference_state(self):
        """g(t) and the visual tokens, computed once as upstream does."""
        self.class_features, self.visual_tokens = self.model.inference_state()

    @property
    def logit_scale(self):
        return LOGIT_SCALE

    @torch.no_grad()
    def image_features(self, image):
        """(f_cls(x), f_rep(x))."""
        return MMRLImageFeatures(*self.model.encode_image(image, self.visual_tokens))

    def fdc_features(self, image_features):
        """The image vector the FDC adapter refines (the fused one is not unit-norm)."""
        if self.fdc_feature == "fusion":
            return fuse(image_features.cls, image_features.rep, self.alpha)
        return getattr(image_features, self.fdc_feature)

    @torch.no_grad()
    def logits(self, image_features):
        """z(x): MMRL's fused or CLS logits, by branch."""
        return branch_logits(image_features.cls, image_features.rep, self.class_features,
                             self.branch, self.alpha)

    @torch.no_grad()
    def clip_image_features(self, image, image_features):
        """f_CLIP(x): a plain CLIP pass."""
        return F.normalize(self.clip_visual(image.to(self.model.dtype)).float(), dim=-1)

    @torch.no_grad()
    def clip_logits(self, clip_image_features):
        """z_CLIP(x) = s f_CLIP(x)^T g_CLIP(t_CLIP), s = the CLIP's own logit scale."""
        return self.clip_logit_scale * clip_image_features @ self.clip_class_features.t()
