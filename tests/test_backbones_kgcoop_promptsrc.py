"""KgCoOp and PromptSRC backbones: upstream checkpoints load unchanged and give the logits a
direct computation gives; wrong checkpoints are refused with the file and key named.

Checkpoints are written here in each upstream format (key names, shapes and dtypes of
htyao89/KgCoOp and muzairkhattak/PromptSRC checkpoints), on the shipped tiny CLIP.
"""
import pytest
import torch
import torch.nn.functional as F

import clip
from clip.model import CLIP

from dassl.config import get_cfg_default
from fvgpt.backbones.kgcoop import KgCoOpBackbone
from fvgpt.backbones.promptsrc import PromptSRCBackbone, PromptSRCCLIP, promptsrc_loss
from fvgpt.config import add_project_config
from fvgpt.modules import FVGPTHead
from fvgpt.world.tiny_clip import TINY_CLIP, load_tiny_clip
from test_prompted_clip import reference_block, reference_causal_mask

CLASSNAMES = ["red circle", "blue square", "green star"]
TEMPLATE = "a photo of a {}."


def config(*opts):
    cfg = get_cfg_default()
    add_project_config(cfg)
    cfg.merge_from_list(["TRAINER.COOP.N_CTX", 4, "TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION", 3,
                         "TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT", 3, *opts])
    return cfg


@pytest.fixture
def tiny():
    return load_tiny_clip().float().eval()


@pytest.fixture(scope="module")
def images():
    size = TINY_CLIP["image_resolution"]
    return torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))


def save_dassl_checkpoint(path, state_dict, epoch, val_result=True):
    """A Dassl checkpoint file; KgCoOp's Dassl fork writes no ``val_result``."""
    checkpoint = {"state_dict": state_dict, "epoch": epoch, "optimizer": {}, "scheduler": {}}
    if val_result:
        checkpoint["val_result"] = None
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path)


def fp16_randn(*shape, seed):
    return (0.02 * torch.randn(*shape, generator=torch.Generator().manual_seed(seed))).half()


def kgcoop_state_dict(ctx, n_cls=len(CLASSNAMES), width=64, suffix_len=72):
    """htyao89/KgCoOp's prompt_learner state dict (fp16), dead keys included."""
    return {"ctx": ctx, "bias_vectors": fp16_randn(1, 512, seed=1),
            "token_prefix": fp16_randn(n_cls, 1, width, seed=2),
            "token_suffix": fp16_randn(n_cls, suffix_len, width, seed=3),
            "meta_net.linear1.weight": fp16_randn(512, 512, seed=4),
            "meta_net.linear1.bias": fp16_randn(512, seed=5)}


def text_features_by_hand(model, prompts, token_ids, deep=None):
    """CLIP's text transformer on prompt embeddings, written out; ``deep[i]`` replaces tokens 1..n
    before block i."""
    x = prompts + model.positional_embedding
    for i, block in enumerate(model.transformer.resblocks):
        if deep and i in deep:
            x = torch.cat([x[:, :1], deep[i].expand(len(x), -1, -1), x[:, 1 + deep[i].shape[0]:]], 1)
        x = reference_block(block, x, reference_causal_mask(x.shape[1]))
    x = model.ln_final(x)
    return F.normalize(x[torch.arange(len(x)), token_ids.argmax(-1)] @ model.text_projection, dim=-1)


@torch.no_grad()
def test_upstream_kgcoop_checkpoint_loads_and_gives_coop_logits(tiny, images, tmp_path):
    ctx = fp16_randn(4, 64, seed=0)
    path = tmp_path / "run" / "prompt_learner" / "model.pth.tar-100"
    save_dassl_checkpoint(path, kgcoop_state_dict(ctx), 100, val_result=False)

    backbone = KgCoOpBackbone(config(), CLASSNAMES, tiny, TEMPLATE)
    assert backbone.load(str(tmp_path / "run"), 0) == str(path)
    assert backbone.trained_classes == 3
    got = backbone.logits(backbone.image_features(images))

    token_ids = clip.tokenize([f"X X X X {c}." for c in CLASSNAMES])
    prompts = tiny.token_embedding(token_ids)
    prompts[:, 1:5] = ctx.float()
    text = text_features_by_hand(tiny, prompts, token_ids)
    image = F.normalize(tiny.encode_image(images), dim=-1)
    torch.testing.assert_close(got, tiny.logit_scale.exp() * image @ text.t(), atol=1e-4, rtol=1e-4)


def test_kgcoop_checkpoint_with_class_specific_context_is_refused(tiny, tmp_path):
    path = tmp_path / "run" / "prompt_learner" / "model.pth.tar-100"
    save_dassl_checkpoint(path, kgcoop_state_dict(fp16_randn(3, 4, 64, seed=0)), 100, val_result=False)
    backbone = KgCoOpBackbone(config(), CLASSNAMES, tiny, TEMPLATE)
    with pytest.raises(ValueError) as error:
        backbone.load(str(tmp_path / "run"), 100)
    message = str(error.value)
    assert str(path) in message and "key 'ctx'" in message and "CSC True" in message


def promptsrc_state_dict(tiny, depth_vision=3, depth_text=3, n_cls=len(CLASSNAMES), seed=10):
    """muzairkhattak/PromptSRC's whole-model state dict for the tiny CLIP: prompts (fp16 ctx,
    fp32 VPT / VPT_shallow), the frozen encoders with CLIP's mixed dtypes, token buffers,
    logit_scale and the second plain image encoder ``prompt_learner.ZS_image_encoder``."""
    frozen = CLIP(**TINY_CLIP)
    frozen.load_state_dict(tiny.state_dict())
    clip.model.convert_weights(frozen)  # fp16 Linear / conv / attention / projections, as upstream
    weights = frozen.state_dict()
    generator = torch.Generator().manual_seed(seed)

    def prompt(n, width):
        return 0.5 * torch.randn(n, width, generator=generator)

    state = {"prompt_learner.ctx": prompt(4, 64).half(),
             "prompt_learner.token_prefix": fp16_randn(n_cls, 1, 64, seed=2),
             "prompt_learner.token_suffix": fp16_randn(n_cls, 72, 64, seed=3),
             "image_encoder.VPT": prompt(4, 128)}
    for i in range(1, depth_vision):
        state[f"image_encoder.transformer.resblocks.{i}.VPT_shallow"] = prompt(4, 128)
    for i in range(1, depth_text):
        state[f"text_encoder.transformer.resblocks.{i}.VPT_shallow"] = prompt(4, 64)
    for key, value in weights.items():
        if key.startswith("visual."):
            state["image_encoder." + key[len("visual."):]] = value
            state["prompt_learner.ZS_image_encoder." + key[len("visual."):]] = value
        elif key.split(".")[0] in ("positional_embedding", "transformer", "ln_final", "text_projection"):
            state["text_encoder." + key] = value
    state["logit_scale"] = weights["logit_scale"]
    return state


@torch.no_grad()
def test_upstream_promptsrc_checkpoint_loads_and_gives_the_ivlp_logits(tiny, images, tmp_path):
    state = promptsrc_state_dict(tiny)
    assert state["prompt_learner.ctx"].dtype == torch.float16
    assert state["image_encoder.VPT"].dtype == torch.float32
    assert state["image_encoder.conv1.weight"].dtype == torch.float16
    assert state["image_encoder.ln_pre.weight"].dtype == torch.float32
    path = tmp_path / "run" / "VLPromptLearner" / "model.pth.tar-20"
    save_dassl_checkpoint(path, state, 20)

    backbone = PromptSRCBackbone(config(), CLASSNAMES, tiny, TEMPLATE)
    assert backbone.load(str(tmp_path / "run"), 20) == str(path)
    assert backbone.trained_classes == 3
    features = backbone.image_features(images)
    got = backbone.logits(features)

    token_ids = clip.tokenize([f"a photo of a {c}." for c in CLASSNAMES])
    prompts = tiny.token_embedding(token_ids)
    prompts[:, 1:5] = state["prompt_learner.ctx"].float()
    deep_text = {i: state[f"text_encoder.transformer.resblocks.{i}.VPT_shallow"] for i in (1, 2)}
    text = text_features_by_hand(tiny, prompts, token_ids, deep_text)

    visual = tiny.visual
    patches = visual.conv1(images).flatten(2).transpose(1, 2)
    x = torch.cat([visual.class_embedding.expand(2, 1, -1), patches], 1) + visual.positional_embedding
    x = visual.ln_pre(torch.cat([x, state["image_encoder.VPT"].expand(2, -1, -1)], 1))
    for i, block in enumerate(visual.transformer.resblocks):
        if i in (1, 2):
            deep = state[f"image_encoder.transformer.resblocks.{i}.VPT_shallow"]
            x = torch.cat([x[:, :-4], deep.expand(2, -1, -1)], 1)
        x = reference_block(block, x, None)
    image = F.normalize(visual.ln_post(x[:, 0]) @ visual.proj, dim=-1)
    torch.testing.assert_close(got, tiny.logit_scale.exp() * image @ text.t(), atol=1e-4, rtol=1e-4)
    # the zero-shot prior takes CLIP's unprompted image encoder
    plain = F.normalize(tiny.encode_image(images), dim=-1)
    torch.testing.assert_close(backbone.clip_image_features(images, features), plain)
    assert not torch.allclose(features, plain, atol=1e-3)


@torch.no_grad()
def test_promptsrc_with_zero_effect_prompts_is_plain_clip(tiny, images):
    """Depth 1, text context = the embedding of "a photo of a" (its CTX_INIT), no visual tokens."""
    cfg = config("TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION", 1, "TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT", 1,
                 "TRAINER.PROMPTSRC.N_CTX_VISION", 0)
    model = PromptSRCCLIP(cfg.TRAINER.PROMPTSRC, CLASSNAMES, tiny)
    plain_text = tiny.encode_text(clip.tokenize([f"a photo of a {c}." for c in CLASSNAMES]))
    torch.testing.assert_close(model.encode_classes(), F.normalize(plain_text, dim=-1),
                               atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model.encode_image(images), F.normalize(tiny.encode_image(images), dim=-1),
                               atol=1e-5, rtol=1e-5)


def test_promptsrc_loss_is_ce_until_the_prompts_move_away_from_clip(tiny, images):
    """L_SCL (PromptSRC Eqs. 1-3) measures how far the prompted model is from frozen CLIP: with
    zero-effect prompts it vanishes and the loss is CE on CLIP's logits; zero-shot text
    features 0.01 away add TEXT_LOSS_WEIGHT * 0.01."""
    cfg = config("TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION", 1, "TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT", 1,
                 "TRAINER.PROMPTSRC.N_CTX_VISION", 0)
    model = PromptSRCCLIP(cfg.TRAINER.PROMPTSRC, CLASSNAMES, tiny)
    labels = torch.tensor([0, 2])
    with torch.no_grad():
        prompts = clip.tokenize([f"a photo of a {c}." for c in CLASSNAMES])
        zs_text = F.normalize(tiny.encode_text(prompts), dim=-1)
        clip_logits = tiny.logit_scale.exp() * F.normalize(tiny.encode_image(images), dim=-1) @ zs_text.t()
    loss, logits, terms = promptsrc_loss(model, images, labels, zs_text, 25.0, 10.0)
    torch.testing.assert_close(logits, clip_logits, atol=1e-4, rtol=1e-5)
    for term in ("loss_scl_text", "loss_scl_image", "loss_scl_logits"):
        assert abs(terms[term].item()) < 1e-4, term
    torch.testing.assert_close(loss, F.cross_entropy(clip_logits, labels), atol=1e-4, rtol=1e-5)
    _, _, terms = promptsrc_loss(model, images, labels, zs_text + 0.01, 25.0, 10.0)
    assert terms["loss_scl_text"].item() == pytest.approx(25.0 * 0.01, rel=1e-3)


def test_promptsrc_checkpoint_with_another_depth_is_refused(tiny, tmp_path):
    path = tmp_path / "run" / "VLPromptLearner" / "model.pth.tar-20"
    save_dassl_checkpoint(path, promptsrc_state_dict(tiny, depth_vision=3, depth_text=2), 20)
    backbone = PromptSRCBackbone(config(), CLASSNAMES, tiny, TEMPLATE)
    with pytest.raises(ValueError) as error:
        backbone.load(str(tmp_path / "run"), 20)
    message = str(error.value)
    assert str(path) in message and "PROMPT_DEPTH_TEXT 2" in message
    assert "text_encoder.transformer.resblocks.<i>.VPT_shallow" in message


@pytest.mark.parametrize("backbone_class", [KgCoOpBackbone, PromptSRCBackbone])
def test_vit_b16_fvgpt_head_has_the_papers_parameter_count(backbone_class):
    """The head is sized by the backbone's feature width: 512 for ViT-B/16 gives 132,546."""
    torch.manual_seed(0)
    vit_b16_width = CLIP(**{**TINY_CLIP, "embed_dim": 512, "vision_layers": 2,
                            "transformer_layers": 2}).eval()
    cfg = config("TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION", 2, "TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT", 2)
    backbone = backbone_class(cfg, CLASSNAMES, vit_b16_width, TEMPLATE)
    head = FVGPTHead.from_config(cfg.TRAINER.FVGPT, backbone.clip_class_features.shape[1],
                                 backbone.logit_scale)
    assert sum(p.numel() for p in head.parameters()) == 132_546


def test_promptsrc_on_vit_b16_has_upstreams_473_keys_and_46k_prompt_parameters():
    """Built on a ViT-B/16-shaped CLIP (meta tensors: shapes only), the model's state dict plus
    upstream's second plain image encoder (prompt_learner.ZS_image_encoder.*) is upstream's
    473-key whole-model checkpoint; the prompts have PromptSRC's 46,080 parameters."""
    with torch.device("meta"):
        vit_b16 = CLIP(512, 224, 12, 768, 16, 77, 49408, 512, 8, 12)
    plain_visual_keys = list(vit_b16.visual.state_dict())
    depth_9 = config("TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION", 9, "TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT", 9)
    model = PromptSRCCLIP(depth_9.TRAINER.PROMPTSRC, CLASSNAMES, vit_b16)
    model_keys = set(model.state_dict())
    zs_keys = {"prompt_learner.ZS_image_encoder." + k for k in plain_visual_keys}
    assert len(model_keys) == 321 and len(zs_keys) == 152 and len(model_keys | zs_keys) == 473
    assert {"prompt_learner.ctx", "image_encoder.VPT", "image_encoder.transformer.resblocks.8.VPT_shallow",
            "text_encoder.transformer.resblocks.8.VPT_shallow", "logit_scale"} <= model_keys
    assert "text_encoder.transformer.resblocks.9.VPT_shallow" not in model_keys
    assert sum(p.numel() for p in model.prompt_parameters().values()) == 46_080
