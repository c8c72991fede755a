"""CLIP's encoders run block by block, with tokens inserted or replaced before chosen blocks.

Prompting methods that put learned tokens *inside* CLIP's transformer (PromptSRC's deep
prompts, MMRL's representation tokens) need to change the token sequence between residual
blocks. The pip ``clip`` package runs all blocks in one call and slices a stored 77x77 text
mask, so this module runs the blocks itself with its own attention mask per sequence length.

Tensors are batch-first ``(N, L, D)`` everywhere here. An *edit* is a callable ``x -> x``
applied right before a block; ``Insert`` and ``Replace`` are the two edits the backbones use:

    edits = {1: Replace(deep_prompt_1, position=-4), 2: Replace(deep_prompt_2, position=-4)}
    x = append_tokens(image_tokens(visual, image), shallow_prompt)
    features = visual_features(visual, run_visual(visual, x, edits))

With no edits, ``encode_image`` / ``encode_text`` equal ``clip_model.encode_image`` /
``encode_text`` (tests/test_prompted_clip.py).
"""
import torch


def causal_mask(length, device=None, dtype=torch.float32):
    """CLIP's text mask for ``length`` tokens: -inf above the diagonal (a token sees only its past)."""
    mask = torch.full((length, length), float("-inf"), device=device, dtype=dtype)
    return mask.triu_(1)


def _prompt_tokens(tokens, x):
    """``tokens`` ((n, D) shared by the batch, or (N, n, D)) as (N, n, D) in x's dtype and device."""
    tokens = tokens.to(dtype=x.dtype, device=x.device)
    if tokens.dim() == 2:
        tokens = tokens.unsqueeze(0).expand(x.shape[0], -1, -1)
    return tokens


class Insert:
    """Edit: put ``tokens`` in front of sequence position ``position`` (the sequence grows by n)."""

    def __init__(self, tokens, position):
        self.tokens, self.position = tokens, position

    def __call__(self, x):
        tokens = _prompt_tokens(self.tokens, x)
        return torch.cat([x[:, :self.position], tokens, x[:, self.position:]], dim=1)


class Replace:
    """Edit: overwrite the n positions from ``position`` on with ``tokens`` (negative: from the end)."""

    def __init__(self, tokens, position):
        self.tokens, self.position = tokens, position

    def __call__(self, x):
        tokens = _prompt_tokens(self.tokens, x)
        start = self.position if self.position >= 0 else x.shape[1] + self.position
        stop = start + tokens.shape[1]
        if start < 0 or stop > x.shape[1]:
            raise ValueError(f"Cannot replace {tokens.shape[1]} tokens from position "
                             f"{self.position} in a sequence of {x.shape[1]}")
        return torch.cat([x[:, :start], tokens, x[:, stop:]], dim=1)


def append_tokens(x, tokens):
    """``x`` with ``tokens`` added at the end of the sequence."""
    return torch.cat([x, _prompt_tokens(tokens, x)], dim=1)


def run_block(block, x, attn_mask=None):
    """One CLIP ``ResidualAttentionBlock`` on batch-first ``x`` with the given (L, L) mask."""
    x = x.permute(1, 0, 2)  # the block's attention is sequence-first
    mask = None if attn_mask is None else attn_mask.to(dtype=x.dtype, device=x.device)
    h = block.ln_1(x)
    x = x + block.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
    x = x + block.mlp(block.ln_2(x))
    return x.permute(1, 0, 2)


def run_blocks(blocks, x, edits=None, mask=None):
    """Run ``blocks`` in order; ``edits[i]`` (if any) changes the sequence right before block i.

    ``mask`` is None (no mask, as CLIP's image encoder) or a function of the current
    sequence length returning the (L, L) additive mask, e.g. ``causal_mask``.
    """
    edits = edits or {}
    unknown = sorted(set(edits) - set(range(len(blocks))))
    if unknown:
        raise ValueError(f"Edits for blocks {unknown}, but the transformer has {len(blocks)} blocks")
    for i, block in enumerate(blocks):
        if i in edits:
            x = edits[i](x)
        x = run_block(block, x, None if mask is None else mask(x.shape[1]))
    return x


def image_tokens(visual, image):
    """Patch embeddings with the class token in front and positional embeddings added (N, 1+P, W)."""
    x = visual.conv1(image.type(visual.conv1.weight.dtype))
    x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
    cls = visual.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
    return torch.cat([cls, x], dim=1) + visual.positional_embedding.to(x.dtype)


def run_visual(visual, x, edits=None):
    """``ln_pre`` then the visual transformer's blocks (with ``edits``); all output tokens."""
    return run_blocks(visual.transformer.resblocks, visual.ln_pre(x), edits)


def visual_features(visual, x):
    """CLIP's image feature from transformer output tokens: ``ln_post(class token) @ proj``."""
    return visual.ln_post(x[:, 0]) @ visual.proj


def encode_image(visual, image, edits=None):
    """``visual(image)`` with ``edits`` applied between blocks."""
    return visual_features(visual, run_visual(visual, image_tokens(visual, image), edits))


def text_embeddings(clip_model, token_ids):
    """Token embeddings of CLIP token ids, in the model's dtype (N, 77, D)."""
    return clip_model.token_embedding(token_ids).type(clip_model.dtype)


def run_text(clip_model, embeddings, edits=None):
    """Positional embeddings, the causal text transformer (with ``edits``), ``ln_final``."""
    x = embeddings + clip_model.positional_embedding[:embeddings.shape[1]].type(embeddings.dtype)
    x = run_blocks(clip_model.transformer.resblocks, x, edits, mask=lambda n: causal_mask(n, x.device))
    return clip_model.ln_final(x)


def text_features(clip_model, x, eot_index):
    """CLIP's text feature: the token at ``eot_index`` (one per row) ``@ text_projection``."""
    return x[torch.arange(x.shape[0], device=x.device), eot_index] @ clip_model.text_projection


def encode_text(clip_model, token_ids, edits=None):
    """``clip_model.encode_text(token_ids)`` with ``edits`` applied between blocks."""
    x = run_text(clip_model, text_embeddings(clip_model, token_ids), edits)
    return text_features(clip_model, x, token_ids.argmax(dim=-1))
