"""Block-by-block CLIP with token edits (fvgpt.backbones.prompted_clip) on the tiny CLIP.

The reference below recomputes each residual block from its weights (attention written
out by hand) and inserts/replaces tokens with explicit indexing, so it shares no code
with the module under test.
"""
import math

import pytest
import torch
import torch.nn.functional as F

import clip

from fvgpt.backbones import prompted_clip as pc
from fvgpt.world.tiny_clip import TINY_CLIP, load_tiny_clip


@pytest.fixture(scope="module")
def model():
    return load_tiny_clip().float().eval()


@pytest.fixture(scope="module")
def images():
    size = TINY_CLIP["image_resolution"]
    return torch.randn(3, 3, size, size, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def token_ids():
    return clip.tokenize(["a photo of a red circle.", "a blue square.", "a photo of a green star."])


def reference_block(block, x, mask):
    """One residual block of CLIP from its weights, batch-first, attention by hand."""
    attn = block.attn
    n, length, width = x.shape
    heads = attn.num_heads
    q, k, v = F.linear(block.ln_1(x), attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
    q, k, v = (t.reshape(n, length, heads, width // heads).transpose(1, 2) for t in (q, k, v))
    scores = q @ k.transpose(-1, -2) / math.sqrt(width // heads)
    if mask is not None:
        scores = scores + mask
    out = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(n, length, width)
    x = x + F.linear(out, attn.out_proj.weight, attn.out_proj.bias)
    h = F.linear(block.ln_2(x), block.mlp.c_fc.weight, block.mlp.c_fc.bias)
    return x + F.linear(h * torch.sigmoid(1.702 * h), block.mlp.c_proj.weight, block.mlp.c_proj.bias)


def reference_causal_mask(length):
    mask = torch.zeros(length, length)
    for i in range(length):
        for j in range(i + 1, length):
            mask[i, j] = float("-inf")
    return mask


@torch.no_grad()
def test_without_edits_both_encoders_equal_plain_clip(model, images, token_ids):
    torch.testing.assert_close(pc.encode_image(model.visual, images), model.encode_image(images),
                               atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(pc.encode_text(model, token_ids), model.encode_text(token_ids),
                               atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_visual_prompts_appended_and_replaced_match_reference(model, images):
    """PromptSRC's visual pattern: 2 tokens appended after the positional embedding,
    replaced by new ones before blocks 1 and 2 (of 4)."""
    visual, width = model.visual, model.visual.conv1.out_channels
    prompts = torch.randn(3, 2, width, generator=torch.Generator().manual_seed(1))
    edits = {1: pc.Replace(prompts[1], position=-2), 2: pc.Replace(prompts[2], position=-2)}
    x = pc.append_tokens(pc.image_tokens(visual, images), prompts[0])
    got = pc.visual_features(visual, pc.run_visual(visual, x, edits))

    patches = visual.conv1(images).flatten(2).transpose(1, 2)
    cls = visual.class_embedding.expand(len(images), 1, -1)
    x = torch.cat([cls, patches], 1) + visual.positional_embedding
    x = visual.ln_pre(torch.cat([x, prompts[0].expand(len(images), -1, -1)], 1))
    for i, block in enumerate(visual.transformer.resblocks):
        if i in (1, 2):
            x = x.clone()
            x[:, -2:] = prompts[i]
        x = reference_block(block, x, None)
    expected = visual.ln_post(x[:, 0]) @ visual.proj
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(got, visual(images), atol=1e-3)


@torch.no_grad()
def test_text_context_replaced_in_deeper_blocks_matches_reference(model, token_ids):
    """PromptSRC's text pattern: tokens 1..2 (after the start token) replaced before block 1."""
    prompt = torch.randn(2, model.transformer.width, generator=torch.Generator().manual_seed(2))
    got = pc.encode_text(model, token_ids, {1: pc.Replace(prompt, position=1)})

    x = model.token_embedding(token_ids) + model.positional_embedding
    for i, block in enumerate(model.transformer.resblocks):
        if i == 1:
            x = x.clone()
            x[:, 1:3] = prompt
        x = reference_block(block, x, reference_causal_mask(x.shape[1]))
    x = model.ln_final(x)
    expected = x[torch.arange(len(x)), token_ids.argmax(-1)] @ model.text_projection
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


@torch.no_grad()
def test_tokens_inserted_after_start_token_grow_text_past_77_with_own_causal_mask(model, token_ids):
    """MMRL's text pattern: 5 tokens inserted after the start token before block 1 (82 tokens),
    replaced before block 2; the end-of-text feature then sits 5 positions later."""
    tokens = torch.randn(2, 5, model.transformer.width, generator=torch.Generator().manual_seed(3))
    edits = {1: pc.Insert(tokens[0], position=1), 2: pc.Replace(tokens[1], position=1)}
    out = pc.run_text(model, pc.text_embeddings(model, token_ids), edits)
    assert out.shape[1] == 82
    got = pc.text_features(model, out, token_ids.argmax(-1) + 5)

    x = model.token_embedding(token_ids) + model.positional_embedding
    for i, block in enumerate(model.transformer.resblocks):
        if i == 1:
            x = torch.cat([x[:, :1], tokens[0].expand(len(x), -1, -1), x[:, 1:]], 1)
        if i == 2:
            x = x.clone()
            x[:, 1:6] = tokens[1]
        x = reference_block(block, x, reference_causal_mask(x.shape[1]))
    x = model.ln_final(x)
    expected = x[torch.arange(len(x)), token_ids.argmax(-1) + 5] @ model.text_projection
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_edits_out_of_range_are_refused(model, token_ids):
    with pytest.raises(ValueError, match="transformer has 3 blocks"):
        pc.encode_text(model, token_ids, {3: pc.Replace(torch.zeros(1, 64), position=1)})
    with pytest.raises(ValueError, match="Cannot replace 4 tokens from position 75"):
        pc.Replace(torch.zeros(4, 64), position=75)(torch.zeros(1, 77, 64))
