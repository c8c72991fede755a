"""PromptSRC (Khattak et al., ICCV 2023): independent vision-language prompts in CLIP's first layers.

Test-time model (muzairkhattak/PromptSRC, trainers/promptsrc.py CustomCLIP.forward and its
vendored clip/model.py, IVLP design), run on the pip ``clip`` package through
``fvgpt.backbones.prompted_clip``:

- image: ``N_CTX_VISION`` tokens ``VPT`` appended after the positional embedding; before
  each block i = 1..PROMPT_DEPTH_VISION-1 the last ``N_CTX_VISION`` tokens are replaced by
  that block's ``VPT_shallow``;
- text: ``[SOS] ctx "{class}." [EOS]`` with ``ctx`` initialised from CTX_INIT; before each
  block i = 1..PROMPT_DEPTH_TEXT-1 tokens 1..N_CTX_TEXT are replaced by its ``VPT_shallow``.

The prompt parameters sit where upstream's do, so ``state_dict()`` keys match upstream's
whole-model checkpoint ``<run>/VLPromptLearner/model.pth.tar-N``: ``prompt_learner.ctx``,
``image_encoder.VPT``, ``{image,text}_encoder.transformer.resblocks.<i>.VPT_shallow``.
Loading reads only these prompt tensors (the frozen CLIP weights come from the CLIP file).
"""
import re

import torch
import torch.nn as nn
import torch.nn.functional as F
from yacs.config import CfgNode as CN

from . import prompted_clip as pc
from ..templates import IMAGENET_TEMPLATES
from .base import read_backbone_state_dict, tokenize_classnames
from .coop import (CoOpBackbone, TextEncoder, context_from_words, prompt_learner_checkpoint,
                   random_context, register_prompt_tokens)

MODEL_NAME = "VLPromptLearner"  # upstream's register_model name = checkpoint folder
DEEP_PROMPT_KEY = re.compile(r"^(image|text)_encoder\.transformer\.resblocks\.(\d+)\.VPT_shallow$")


def add_config(cfg):
    """PromptSRC's keys, defaults and types as upstream (muzairkhattak/PromptSRC, train.py
    extend_cfg; ints stay ints so that upstream config files merge)."""
    c = cfg.TRAINER.PROMPTSRC = CN()
    c.N_CTX_VISION = 4  # visual prompt tokens per layer
    c.N_CTX_TEXT = 4  # text prompt tokens per layer
    c.CTX_INIT = "a photo of a"  # initialises the first-layer text context
    c.PREC = "fp16"  # fp16, fp32 or amp
    c.PROMPT_DEPTH_VISION = 9  # layers 0..depth-1 carry visual prompts
    c.PROMPT_DEPTH_TEXT = 9  # layers 0..depth-1 carry text prompts
    c.TEXT_LOSS_WEIGHT = 25  # L_SCL_text
    c.IMAGE_LOSS_WEIGHT = 10  # L_SCL_image
    c.GPA_MEAN = 15  # Gaussian prompt aggregation over epochs: mean
    c.GPA_STD = 1  # and standard deviation


class TextContext(nn.Module):
    """The first-layer text context ``ctx`` and the token buffers around it (upstream VLPromptLearner)."""

    def __init__(self, src_cfg, classnames, clip_model):
        super().__init__()
        n_ctx, dim = src_cfg.N_CTX_TEXT, clip_model.ln_final.weight.shape[0]
        init = src_cfg.CTX_INIT.replace("_", " ")
        if init and n_ctx <= 4:  # upstream: the first n_ctx tokens of CTX_INIT
            ctx = context_from_words(clip_model, init, n_ctx)
            prefix = init
        else:
            ctx = random_context(clip_model, (n_ctx, dim))
            prefix = " ".join(["X"] * n_ctx)
        print(f'PromptSRC text context: "{prefix}" ({n_ctx} tokens)')
        self.ctx = nn.Parameter(ctx)
        self.n_cls = len(classnames)
        register_prompt_tokens(self, clip_model, [f"{prefix} {c.replace('_', ' ')}." for c in classnames],
                               n_ctx)

    def forward(self):
        ctx = self.ctx.unsqueeze(0).expand(self.n_cls, -1, -1)
        return torch.cat([self.token_prefix, ctx, self.token_suffix], dim=1)


def deep_prompt(n_tokens, width, device):
    """A prompt initialised as upstream's: N(0, 0.02^2) (drawn on the CPU), fp32 whatever
    CLIP's precision."""
    prompt = torch.empty(n_tokens, width)
    nn.init.normal_(prompt, std=0.02)
    return nn.Parameter(prompt.to(device))


class PromptSRCCLIP(nn.Module):
    """CLIP with PromptSRC's independent vision-language prompts (IVLP)."""

    def __init__(self, src_cfg, classnames, clip_model):
        super().__init__()
        self.depth_vision, self.depth_text = src_cfg.PROMPT_DEPTH_VISION, src_cfg.PROMPT_DEPTH_TEXT
        self.n_ctx_vision, self.n_ctx_text = src_cfg.N_CTX_VISION, src_cfg.N_CTX_TEXT
        if self.depth_text < 1 or self.depth_vision < 0:
            raise ValueError("TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT must be >= 1 and "
                             f"PROMPT_DEPTH_VISION >= 0, got {self.depth_text} and {self.depth_vision}")
        self.prompt_learner = TextContext(src_cfg, classnames, clip_model)
        self.image_encoder = clip_model.visual
        self.text_encoder = TextEncoder(clip_model)
        self.logit_scale = clip_model.logit_scale
        self.dtype = clip_model.dtype
        visual_blocks = self.image_encoder.transformer.resblocks
        text_blocks = self.text_encoder.transformer.resblocks
        for depth, blocks in ((self.depth_vision, visual_blocks), (self.depth_text, text_blocks)):
            if depth > len(blocks):
                raise ValueError(
                    f"TRAINER.PROMPTSRC.PROMPT_DEPTH_{'VISION' if blocks is visual_blocks else 'TEXT'} "
                    f"= {depth} exceeds the {len(blocks)} transformer layers of this CLIP "
                    "(MODEL.BACKBONE.NAME): use the CLIP and depth of the PromptSRC run.")
        device = clip_model.logit_scale.device
        width, text_width = self.image_encoder.conv1.out_channels, self.text_encoder.transformer.width
        if self.depth_vision > 0:
            self.image_encoder.VPT = deep_prompt(self.n_ctx_vision, width, device)
        for i in range(1, self.depth_vision):
            visual_blocks[i].VPT_shallow = deep_prompt(self.n_ctx_vision, width, device)
        for i in range(1, self.depth_text):
            text_blocks[i].VPT_shallow = deep_prompt(self.n_ctx_text, text_width, device)

    def prompt_parameters(self):
        """{state-dict key: parameter} of every learnable prompt."""
        return {name: p for name, p in self.named_parameters()
                if name == "prompt_learner.ctx" or name.split(".")[-1] in ("VPT", "VPT_shallow")}

    def encode_image(self, image):
        """L2-normalised prompted image features f(x)."""
        visual = self.image_encoder
        x = pc.image_tokens(visual, image.type(self.dtype))
        if self.depth_vision > 0:
            x = pc.append_tokens(x, visual.VPT)
        edits = {i: pc.Replace(visual.transformer.resblocks[i].VPT_shallow, -self.n_ctx_vision)
                 for i in range(1, self.depth_vision)}
        return F.normalize(pc.visual_features(visual, pc.run_visual(visual, x, edits)).float(), dim=-1)

    def encode_classes(self):
        """L2-normalised prompted class text features g(t).

        The text transformer is causal, so the end-of-text features depend only on the tokens
        up to the longest prompt's end: the padding after it is not computed."""
        blocks = self.text_encoder.transformer.resblocks
        edits = {i: pc.Replace(blocks[i].VPT_shallow, 1) for i in range(1, self.depth_text)}
        eot = self.prompt_learner.tokenized_prompts.argmax(dim=-1)
        prompts = self.prompt_learner()[:, :int(eot.max()) + 1]
        x = pc.run_text(self.text_encoder, prompts, edits)
        return F.normalize(pc.text_features(self.text_encoder, x, eot.to(x.device)).float(), dim=-1)

    def forward(self, image):
        return self.logit_scale.exp() * self.encode_image(image) @ self.encode_classes().t()


def promptsrc_loss(model, image, labels, zs_class_features, text_weight, image_weight):
    """PromptSRC's training loss on a batch (PromptSRC Eqs. 1-3; muzairkhattak/PromptSRC
    trainers/promptsrc.py forward_backward): CE on the prompted logits plus L_SCL, which keeps
    the prompted model close to frozen CLIP: text_weight * L1(g, g_ZS) + image_weight *
    L1(f, f_ZS) + KL(p_ZS || p) summed over the batch and divided by the number of logits.
    f_ZS comes from the unprompted image encoder, g_ZS is ``zs_class_features`` (normalised).

    Returns (loss, logits, {term: value}).
    """
    scale = model.logit_scale.exp()
    image_features, class_features = model.encode_image(image), model.encode_classes()
    logits = scale * image_features @ class_features.t()
    with torch.no_grad():
        zs_image = F.normalize(model.image_encoder(image.type(model.dtype)).float(), dim=-1)
        zs_logits = scale * zs_image @ zs_class_features.t()
    terms = {
        "loss_scl_text": F.l1_loss(class_features, zs_class_features) * text_weight,
        "loss_scl_image": F.l1_loss(image_features, zs_image) * image_weight,
        "loss_scl_logits": F.kl_div(F.log_softmax(logits, dim=1), F.log_softmax(zs_logits, dim=1),
                                    reduction="sum", log_target=True) / logits.numel(),
        "loss_ce": F.cross_entropy(logits, labels),
    }
    return sum(terms.values()), logits, terms


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
        total = total + pc.encode_text(clip_model, tokens).float()
    return F.normalize(total / len(templates), dim=-1)


def prompt_settings(state_dict):
    """(N_CTX_TEXT, N_CTX_VISION, PROMPT_DEPTH_TEXT, PROMPT_DEPTH_VISION) read from a state dict."""
    deep = {"image": [], "text": []}
    for key in state_dict:
        match = DEEP_PROMPT_KEY.match(key)
        if match:
            deep[match.group(1)].append(int(match.group(2)))
    vpt = state_dict.get("image_encoder.VPT")
    depth_vision = 0 if vpt is None else 1 + len(deep["image"])
    return (state_dict["prompt_learner.ctx"].shape[0], 0 if vpt is None else vpt.shape[0],
            1 + len(deep["text"]), depth_vision)


def load_prompts(model, path):
    """Copy the prompt tensors of a PromptSRC checkpoint into ``model``.

    Returns the number of classes the run was trained on (None if the file does not say).
    """
    state_dict = read_backbone_state_dict(path, "PromptSRC", "prompt_learner.ctx")
    settings = prompt_settings(state_dict)
    wanted = (model.n_ctx_text, model.n_ctx_vision if model.depth_vision else 0,
              model.depth_text, model.depth_vision)
    names = ("N_CTX_TEXT", "N_CTX_VISION", "PROMPT_DEPTH_TEXT", "PROMPT_DEPTH_VISION")
    keys = ("prompt_learner.ctx", "image_encoder.VPT", "text_encoder.transformer.resblocks.<i>.VPT_shallow",
            "image_encoder.transformer.resblocks.<i>.VPT_shallow")
    for name, key, found, want in zip(names, keys, settings, wanted):
        if found != want:
            raise ValueError(
                f"PromptSRC checkpoint {path} was trained with {name} {found} (read from its "
                f"key(s) {key}), this run has TRAINER.PROMPTSRC.{name} {want}: set it as in the "
                "run that made the checkpoint.")
    params = model.prompt_parameters()
    missing = sorted(set(params) - set(state_dict))
    if missing:
        raise ValueError(f"PromptSRC checkpoint {path} lacks the prompt key(s) {missing}.")
    with torch.no_grad():
        for key, param in params.items():
            if state_dict[key].shape != param.shape:
                raise ValueError(f"PromptSRC checkpoint {path}: key {key} has shape "
                                 f"{tuple(state_dict[key].shape)}, this model expects "
                                 f"{tuple(param.shape)} (another CLIP model?).")
            param.copy_(state_dict[key])
    prefix = state_dict.get("prompt_learner.token_prefix")
    return None if prefix is None else prefix.shape[0]


class PromptSRCBackbone(CoOpBackbone):
    """FVG-PT's view of a frozen PromptSRC model.

    PromptSRC prompts the image encoder, so the zero-shot prior z_CLIP takes a plain CLIP
    image pass (``clip_model.visual``'s own forward, which ignores the attached prompts).
    """

    method = "PromptSRC"
    trained_classes_key = "prompt_learner.token_prefix"
    settings_keys = tuple(f"TRAINER.PROMPTSRC.{k}" for k in (
        "N_CTX_VISION", "N_CTX_TEXT", "CTX_INIT", "PROMPT_DEPTH_VISION", "PROMPT_DEPTH_TEXT"))

    @classmethod
    def checkpoint_path(cls, run_dir, epoch):
        return prompt_learner_checkpoint(run_dir, epoch, cls.method, MODEL_NAME)

    @classmethod
    def checkpoint_settings(cls, run_dir, epoch):
        path = cls.checkpoint_path(run_dir, epoch)
        n_text, n_vision, depth_text, depth_vision = prompt_settings(
            read_backbone_state_dict(path, cls.method, "prompt_learner.ctx"))
        found = {"TRAINER.PROMPTSRC.N_CTX_TEXT": n_text, "TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT": depth_text,
                 "TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION": depth_vision}
        if depth_vision:
            found["TRAINER.PROMPTSRC.N_CTX_VISION"] = n_vision
        return path, found

    @staticmethod
    def build_model(cfg, classnames, clip_model):
        return PromptSRCCLIP(cfg.TRAINER.PROMPTSRC, classnames, clip_model)

    @staticmethod
    def trainable_parameters(model):
        """Every learnable prompt (``prompt_parameters``)."""
        return list(model.prompt_parameters().values())

    @staticmethod
    def tuning_loss(cfg, model, clip_model, classnames):
        """``promptsrc_loss`` towards the ensemble of CLIP's ImageNet prompts (upstream's g_ZS)."""
        src = cfg.TRAINER.PROMPTSRC
        zs_class_features = ensemble_text_features(clip_model, classnames, IMAGENET_TEMPLATES)

        def loss(image, label):
            return promptsrc_loss(model, image, label, zs_class_features,
                                  src.TEXT_LOSS_WEIGHT, src.IMAGE_LOSS_WEIGHT)
        return loss

    def load_checkpoint(self, run_dir, epoch):
        path = self.checkpoint_path(run_dir, epoch)
        return path, load_prompts(self.model, path)

    @torch.no_grad()
    def clip_image_features(self, image, image_features):
        """f_CLIP(x) from CLIP's unprompted image encoder."""
        visual = self.model.image_encoder
        return F.normalize(visual(image.type(self.model.dtype)).float(), dim=-1)
