"""CoOp (Zhou et al., IJCV 2022): learnable text context in front of the class name.

State-dict keys match the upstream CoOp repository (KaiyangZhou/CoOp,
trainers/coop.py): the prompt learner holds ``ctx`` ((n_ctx, D), or
(n_cls, n_ctx, D) with class-specific context) and the buffers ``token_prefix``
and ``token_suffix``; its checkpoint is ``<run>/prompt_learner/model.pth.tar-N``.
"""
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from yacs.config import CfgNode as CN

from ..checkpoints import saved_checkpoint
from ..clip_import import clip
from .base import FrozenBackbone, read_backbone_state_dict

_tokenizer = clip.simple_tokenizer.SimpleTokenizer()


# htyao89/KgCoOp declares TRAINER.COOP.CTX_INIT a bool, and any true value initialises the
# context from these hard-coded words (KgCoOp/trainers/kgcoop.py:94-104); CoOp's is a string.
KGCOOP_CTX_WORDS = "a photo of a"


def add_config(cfg):
    """CoOp's keys, with CoOp's defaults (KaiyangZhou/CoOp, train.py extend_cfg)."""
    cfg.TRAINER.COOP = CN()
    cfg.TRAINER.COOP.N_CTX = 16  # number of context vectors
    cfg.TRAINER.COOP.CSC = False  # class-specific context
    cfg.TRAINER.COOP.CTX_INIT = ""  # initialisation words, e.g. "a photo of a"
    cfg.TRAINER.COOP.PREC = "fp16"  # fp16, fp32 or amp
    cfg.TRAINER.COOP.CLASS_TOKEN_POSITION = "end"  # end, middle or front


def context_init_words(ctx_init):
    """TRAINER.COOP.CTX_INIT as initialisation words ("" = random context): a phrase (CoOp's
    string), or KgCoOp's bool (True: KgCoOp's hard-coded words, False: random)."""
    if ctx_init is True:
        return KGCOOP_CTX_WORDS
    if ctx_init is False or ctx_init == "":
        return ""
    if not isinstance(ctx_init, str):
        raise ValueError(f"TRAINER.COOP.CTX_INIT must be words or a bool, got {ctx_init!r}")
    return ctx_init.replace("_", " ")


class TextEncoder(nn.Module):
    """CLIP's text transformer applied to prompt embeddings instead of token ids."""

    def __init__(self, clip_model):
        super().__init__()
        self.transformer = clip_model.transformer
        self.positional_embedding = clip_model.positional_embedding
        self.ln_final = clip_model.ln_final
        self.text_projection = clip_model.text_projection
        self.dtype = clip_model.dtype

    def forward(self, prompt_embeddings, tokenized_prompts):
        x = prompt_embeddings + self.positional_embedding.type(self.dtype)
        x = self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
        x = self.ln_final(x).type(self.dtype)
        eot = tokenized_prompts.argmax(dim=-1)  # the end-of-text token has the largest id
        return x[torch.arange(x.shape[0]), eot] @ self.text_projection


def context_from_words(clip_model, words, n_ctx):
    """The token embeddings of the first ``n_ctx`` words of a CTX_INIT phrase."""
    device = clip_model.token_embedding.weight.device
    with torch.no_grad():
        embedding = clip_model.token_embedding(clip.tokenize(words).to(device)).type(clip_model.dtype)
    return embedding[0, 1:1 + n_ctx]


def random_context(clip_model, shape):
    """CoOp's random context initialisation: N(0, 0.02^2), drawn on the CPU."""
    ctx = torch.empty(shape, dtype=clip_model.dtype)
    nn.init.normal_(ctx, std=0.02)
    return ctx.to(clip_model.token_embedding.weight.device)


def register_prompt_tokens(module, clip_model, prompts, n_ctx):
    """Tokenise ``prompts`` (n_ctx placeholder words, then the class name) into
    ``module.tokenized_prompts`` and keep the embeddings around the context as the buffers
    ``token_prefix`` (start-of-text) and ``token_suffix`` (class name, '.', end-of-text)."""
    module.tokenized_prompts = clip.tokenize(prompts)
    with torch.no_grad():
        embedding = clip_model.token_embedding(
            module.tokenized_prompts.to(clip_model.token_embedding.weight.device)).type(clip_model.dtype)
    module.register_buffer("token_prefix", embedding[:, :1])
    module.register_buffer("token_suffix", embedding[:, 1 + n_ctx:])


class PromptLearner(nn.Module):
    """CoOp's context vectors, placed at the front, middle or end of the class name."""

    def __init__(self, coop_cfg, classnames, clip_model):
        super().__init__()
        n_cls, n_ctx = len(classnames), coop_cfg.N_CTX
        dim = clip_model.ln_final.weight.shape[0]
        words = context_init_words(coop_cfg.CTX_INIT)
        if words:
            n_ctx = len(words.split(" "))
            ctx = context_from_words(clip_model, words, n_ctx)
            if coop_cfg.CSC:
                ctx = ctx.unsqueeze(0).repeat(n_cls, 1, 1)
            prefix = words
        else:
            ctx = random_context(clip_model, (n_cls, n_ctx, dim) if coop_cfg.CSC else (n_ctx, dim))
            prefix = " ".join(["X"] * n_ctx)
        print(f'CoOp context: "{prefix}" ({n_ctx} tokens, '
              f'{"class-specific" if coop_cfg.CSC else "unified"})')
        self.ctx = nn.Parameter(ctx)
        self.n_cls, self.n_ctx = n_cls, n_ctx
        self.class_token_position = coop_cfg.CLASS_TOKEN_POSITION
        if self.class_token_position not in ("end", "middle", "front"):
            raise ValueError("TRAINER.COOP.CLASS_TOKEN_POSITION must be end, middle or front, "
                             f"got {self.class_token_position!r}")
        names = [c.replace("_", " ") for c in classnames]
        self.name_lens = [len(_tokenizer.encode(n)) for n in names]
        register_prompt_tokens(self, clip_model, [f"{prefix} {n}." for n in names], n_ctx)

    def forward(self):
        ctx = self.ctx if self.ctx.dim() == 3 else self.ctx.unsqueeze(0).expand(self.n_cls, -1, -1)
        prefix, suffix = self.token_prefix, self.token_suffix
        if self.class_token_position == "end":
            return torch.cat([prefix, ctx, suffix], dim=1)
        prompts = []
        for i, name_len in enumerate(self.name_lens):
            name, rest = suffix[i:i + 1, :name_len], suffix[i:i + 1, name_len:]
            ctx_i = ctx[i:i + 1]
            if self.class_token_position == "middle":
                half = self.n_ctx // 2
                parts = [prefix[i:i + 1], ctx_i[:, :half], name, ctx_i[:, half:], rest]
            else:
                parts = [prefix[i:i + 1], name, ctx_i, rest]
            prompts.append(torch.cat(parts, dim=1))
        return torch.cat(prompts, dim=0)


class CoOpCLIP(nn.Module):
    """CLIP whose class text features come from CoOp's learned prompts."""

    def __init__(self, coop_cfg, classnames, clip_model):
        super().__init__()
        self.prompt_learner = PromptLearner(coop_cfg, classnames, clip_model)
        self.image_encoder = clip_model.visual
        self.text_encoder = TextEncoder(clip_model)
        self.logit_scale = clip_model.logit_scale
        self.dtype = clip_model.dtype

    def encode_image(self, image):
        """L2-normalised image features f(x)."""
        return F.normalize(self.image_encoder(image.type(self.dtype)).float(), dim=-1)

    def encode_classes(self):
        """L2-normalised class text features g(t) from the learned prompts."""
        prompts = self.prompt_learner()
        tokens = self.prompt_learner.tokenized_prompts.to(prompts.device)
        return F.normalize(self.text_encoder(prompts, tokens).float(), dim=-1)

    def forward(self, image):
        return self.logit_scale.exp() * self.encode_image(image) @ self.encode_classes().t()


def prompt_learner_checkpoint(run_dir, epoch, method="CoOp", model_name="prompt_learner"):
    """Path of a run's ``<model_name>`` checkpoint for ``epoch`` (``saved_checkpoint``'s rule)."""
    try:
        return saved_checkpoint(os.path.join(run_dir, model_name), epoch, f"{method} checkpoint")
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f"{err} Train the backbone first (trainer {method}, same dataset, seed and "
            "DATASET.SUBSAMPLE_CLASSES base) and pass its --output-dir (TRAINER.FVGPT.BACKBONE_DIR "
            "or --model-dir).") from None


def context_settings(ctx):
    """(N_CTX, CSC) that produced a context tensor: (n_ctx, D), or (n_cls, n_ctx, D) with CSC."""
    return (ctx.shape[1], True) if ctx.dim() == 3 else (ctx.shape[0], False)


def load_prompt_learner(prompt_learner, path, method="CoOp"):
    """Load a CoOp-style context from ``path``; the class-token buffers stay those of the
    current classes. Other keys (KgCoOp's unused ``bias_vectors``, ``meta_net.*``) are ignored.

    Returns the number of classes the checkpoint was trained on (None if it does not say).
    """
    state_dict = read_backbone_state_dict(path, method, "ctx")
    ctx = state_dict["ctx"]
    if ctx.shape != prompt_learner.ctx.shape:
        (n_ctx, csc), (want_n_ctx, want_csc) = context_settings(ctx), context_settings(prompt_learner.ctx)
        raise ValueError(
            f"{method} checkpoint {path}: key 'ctx' has shape {tuple(ctx.shape)} (N_CTX {n_ctx}, "
            f"CSC {csc}), this model expects {tuple(prompt_learner.ctx.shape)} (N_CTX "
            f"{want_n_ctx}, CSC {want_csc}): set TRAINER.COOP.N_CTX / CSC / CTX_INIT as in the "
            "run that made it (CSC context only fits the classes it was trained on)."
        )
    with torch.no_grad():
        prompt_learner.ctx.copy_(ctx)
    prefix = state_dict.get("token_prefix")
    return None if prefix is None else prefix.shape[0]


class CoOpBackbone(FrozenBackbone):
    """FVG-PT's view of a frozen CoOp model.

    CoOp leaves CLIP's image encoder untouched, so the zero-shot prior reuses f(x):
    z_CLIP = s f(x)^T g_CLIP(t_CLIP) needs no second image pass.
    """

    method = "CoOp"
    trained_classes_key = "token_prefix"
    settings_keys = ("TRAINER.COOP.N_CTX", "TRAINER.COOP.CSC", "TRAINER.COOP.CTX_INIT",
                     "TRAINER.COOP.CLASS_TOKEN_POSITION")

    @staticmethod
    def build_model(cfg, classnames, clip_model):
        return CoOpCLIP(cfg.TRAINER.COOP, classnames, clip_model)

    @staticmethod
    def trainable_parameters(model):
        """The context vectors (the prompt learner's parameters)."""
        return list(model.prompt_learner.parameters())

    @classmethod
    def checkpoint_path(cls, run_dir, epoch):
        return prompt_learner_checkpoint(run_dir, epoch, cls.method)

    @classmethod
    def checkpoint_settings(cls, run_dir, epoch):
        path = cls.checkpoint_path(run_dir, epoch)
        n_ctx, csc = context_settings(read_backbone_state_dict(path, cls.method, "ctx")["ctx"])
        return path, {"TRAINER.COOP.N_CTX": n_ctx, "TRAINER.COOP.CSC": csc}

    def load_checkpoint(self, run_dir, epoch):
        path = self.checkpoint_path(run_dir, epoch)
        return path, load_prompt_learner(self.model.prompt_learner, path, self.method)

    @torch.no_grad()
    def image_features(self, image):
        """f(x)."""
        return self.model.encode_image(image)

    @torch.no_grad()
    def clip_image_features(self, image, image_features):
        """f_CLIP(x): the same as f(x) for CoOp."""
        return image_features
