"""The shipped FG-World tiny CLIP: loads as OpenAI CLIP and is zero-shot above chance."""
import os

import pytest
import torch

import clip
from clip.model import CLIP, build_model

from fvgpt.world import tiny_clip
from fvgpt.world.classes import CLASSNAMES, NUM_BASE


@pytest.fixture(scope="module")
def state_dict():
    return torch.load(tiny_clip.ASSET_PATH, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def model(state_dict):
    return build_model(dict(state_dict)).float().eval()


def test_checkpoint_is_a_small_fp16_clip_state_dict(state_dict, model):
    assert os.path.getsize(tiny_clip.ASSET_PATH) < 10 * 2**20
    assert all(v.dtype == torch.float16 for v in state_dict.values() if v.is_floating_point())
    assert isinstance(model, CLIP)
    assert model.visual.input_resolution == tiny_clip.TINY_CLIP["image_resolution"]
    assert model.context_length == 77 and model.vocab_size == 49408
    assert model.transformer.width == tiny_clip.TINY_CLIP["transformer_width"]
    used = tiny_clip.CaptionBank().used_token_ids()
    rows = state_dict["token_embedding.weight"]
    unused = torch.ones(rows.shape[0], dtype=torch.bool)
    unused[used] = False
    assert not rows[unused].any() and rows[used].any(dim=1).all()


def test_causal_prefix_text_encoding_matches_encode_text(model):
    tokens = clip.tokenize([f"a photo of a {c} on a grid background." for c in CLASSNAMES[:8]])
    with torch.no_grad():
        full = model.encode_text(tokens)
        prefix = tiny_clip.encode_text_causal_prefix(model, tokens)
    torch.testing.assert_close(prefix, full, atol=1e-4, rtol=1e-4)


def test_zero_shot_above_chance_on_base_and_new(model):
    images, labels = tiny_clip.benchmark_images("test")
    keep = torch.arange(len(labels)) % 5 == 0  # 6 images per class
    accuracy = tiny_clip.base_new_accuracy(model, images[keep], labels[keep])
    chance = 1 / NUM_BASE
    assert accuracy["base"] > 6 * chance and accuracy["new"] > 6 * chance, accuracy
