"""MMRL on the pip clip package: upstream checkpoints, the 82-token text path, branches, train.py.

A small randomly initialised CLIP (2 image and 2 text blocks) stands in for real weights;
representation tokens go into blocks 1 and 2 (inserted before 1, replaced before 2).
"""
import os
import re
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

import clip
from clip.model import CLIP
from dassl.config import get_cfg_default
from fixture_trees import build_tree
from fvgpt.backbones.mmrl import (CHECKPOINT_FOLDERS, MMRLBackbone, MMRLImageEncoder,
                                  MMRLTextEncoder, checkpoint_path, mmrl_branch)
from fvgpt.backbones.mmrl import apply_dataset_overrides
from fvgpt.config import add_project_config
from fvgpt.templates import template_for
from fvgpt.world.tiny_clip import TINY_CLIP

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL_CLIP = {**TINY_CLIP, "embed_dim": 48, "vision_layers": 2, "vision_width": 64,
              "vision_patch_size": 8, "transformer_layers": 2}
LAYERS, N_TOKENS, REP_DIM = [1, 2], 5, 32
CLASSES = ["abyssinian", "beagle", "boxer"]
TEMPLATE = "a photo of a {}, a type of pet."


@pytest.fixture(scope="module")
def clip_model():
    torch.manual_seed(0)
    return CLIP(**SMALL_CLIP).eval()


def mmrl_cfg(*opts):
    cfg = get_cfg_default()
    add_project_config(cfg)
    cfg.merge_from_list(["DATASET.NAME", "OxfordPets", "TRAINER.MMRL.REP_LAYERS", LAYERS,
                         "TRAINER.MMRL.REP_DIM", REP_DIM, *opts])
    return cfg


def write_upstream_checkpoint(run_dir, folder, clip_model, n_classes, rep_dim=REP_DIM, epoch=3):
    """An MMRL checkpoint laid out as yunncheng/MMRL saves it (UPSTREAM_NOTES.md 1.3(b)), fp32."""
    g = torch.Generator().manual_seed(1)
    visual_width = clip_model.visual.conv1.out_channels
    text_width = clip_model.ln_final.weight.shape[0]
    embed_dim = clip_model.visual.proj.shape[1]
    state = {"representation_learner.compound_rep_tokens": torch.randn(N_TOKENS, rep_dim, generator=g)}
    for i in range(len(LAYERS)):
        for name, width in (("r2vproj", visual_width), ("r2tproj", text_width)):
            key = f"representation_learner.compound_rep_tokens_{name}.{i}"
            state[f"{key}.weight"] = 0.2 * torch.randn(width, rep_dim, generator=g)
            state[f"{key}.bias"] = 0.2 * torch.randn(width, generator=g)
    state["image_encoder.proj_rep"] = torch.randn(visual_width, embed_dim, generator=g) / visual_width ** 0.5
    state["prompt_embeddings"] = torch.randn(n_classes, 77, text_width, generator=g)
    state.update({f"image_encoder.{k}": v.float() for k, v in clip_model.visual.state_dict().items()})
    text_keys = ("positional_embedding", "transformer.", "ln_final.", "text_projection")
    state.update({f"text_encoder.{k}": v.float() for k, v in clip_model.state_dict().items()
                  if k.startswith(text_keys)})
    os.makedirs(os.path.join(run_dir, folder))
    path = os.path.join(run_dir, folder, f"model.pth.tar-{epoch}")
    torch.save({"state_dict": state, "epoch": epoch, "optimizer": {}, "scheduler": {},
                "val_result": 50.0}, path)
    return state


# A hand-written MMRL forward pass (upstream's clip/model_mmrl.py, sequence-first as there).
def reference_block(block, x, mask=None):
    h = block.ln_1(x)
    x = x + block.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
    return x + block.mlp(block.ln_2(x))


def with_tokens(x, tokens, number):
    """Insert the layer's tokens after position 0 at the first layer, replace them later."""
    tokens = tokens.unsqueeze(1).expand(-1, x.shape[1], -1)
    rest = x[1:] if number == LAYERS[0] else x[1 + N_TOKENS:]
    return torch.cat([x[:1], tokens, rest])


def reference_text(clip_model, token_ids, layer_tokens):
    x = (clip_model.token_embedding(token_ids) + clip_model.positional_embedding).permute(1, 0, 2)
    for number, block in enumerate(clip_model.transformer.resblocks, 1):
        if number in LAYERS:
            x = with_tokens(x, layer_tokens[LAYERS.index(number)], number)
        length = x.shape[0]
        causal = torch.triu(torch.full((length, length), float("-inf")), diagonal=1)
        x = reference_block(block, x, causal)
    assert x.shape[0] == 77 + N_TOKENS
    x = clip_model.ln_final(x.permute(1, 0, 2))
    eot = token_ids.argmax(dim=-1) + N_TOKENS
    return x[torch.arange(x.shape[0]), eot] @ clip_model.text_projection


def reference_image(visual, image, layer_tokens, proj_rep):
    x = visual.conv1(image).flatten(2).permute(0, 2, 1)
    x = torch.cat([visual.class_embedding.expand(x.shape[0], 1, -1), x], dim=1)
    x = visual.ln_pre(x + visual.positional_embedding).permute(1, 0, 2)
    for number, block in enumerate(visual.transformer.resblocks, 1):
        if number in LAYERS:
            x = with_tokens(x, layer_tokens[LAYERS.index(number)], number)
        x = reference_block(block, x)
    x = x.permute(1, 0, 2)
    return (visual.ln_post(x[:, 0]) @ visual.proj,
            visual.ln_post(x[:, 1:1 + N_TOKENS]).mean(dim=1) @ proj_rep)


def reference_logits(clip_model, state, image, template=TEMPLATE):
    """(z_cls, z_rep) from an upstream state dict, scale 100, features L2-normalised."""
    r = state["representation_learner.compound_rep_tokens"]

    def mapped(name):
        key = f"representation_learner.compound_rep_tokens_{name}"
        return [F.linear(r, state[f"{key}.{i}.weight"], state[f"{key}.{i}.bias"])
                for i in range(len(LAYERS))]

    ids = clip.tokenize([template.format(c) for c in CLASSES])
    g = F.normalize(reference_text(clip_model, ids, mapped("r2tproj")), dim=-1)
    f_cls, f_rep = reference_image(clip_model.visual, image, mapped("r2vproj"),
                                   state["image_encoder.proj_rep"])
    return 100 * F.normalize(f_cls, dim=-1) @ g.t(), 100 * F.normalize(f_rep, dim=-1) @ g.t()


@pytest.mark.parametrize("folder", CHECKPOINT_FOLDERS)
def test_upstream_checkpoint_loads_and_gives_mmrl_logits(clip_model, folder, tmp_path):
    state = write_upstream_checkpoint(str(tmp_path), folder, clip_model, n_classes=7)
    image = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        z_cls, z_rep = reference_logits(clip_model, state, image)
    for subsample, expected in (("base", 0.7 * z_cls + 0.3 * z_rep), ("new", z_cls)):
        cfg = mmrl_cfg("DATASET.SUBSAMPLE_CLASSES", subsample)
        backbone = MMRLBackbone(cfg, CLASSES, clip_model, TEMPLATE)
        path = backbone.load(str(tmp_path), 0)
        assert path == str(tmp_path / folder / "model.pth.tar-3")
        assert backbone.trained_classes == 7  # prompt_embeddings' class count; the buffer is dropped
        logits = backbone.logits(backbone.image_features(image))
        torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-4)


def test_checkpoint_that_does_not_fit_is_named(clip_model, tmp_path):
    write_upstream_checkpoint(str(tmp_path / "eurosat"), CHECKPOINT_FOLDERS[0], clip_model, 3,
                              rep_dim=2048)
    backbone = MMRLBackbone(mmrl_cfg(), CLASSES, clip_model, TEMPLATE)
    with pytest.raises(ValueError, match=r"REP_DIM 2048 .* config gives 5, 32 and 2"):
        backbone.load(str(tmp_path / "eurosat"), 0)
    other_clip = CLIP(**SMALL_CLIP).eval()  # same shapes, other weights
    write_upstream_checkpoint(str(tmp_path / "other"), CHECKPOINT_FOLDERS[0], other_clip, 3)
    with pytest.raises(ValueError, match="frozen CLIP weights .* differ"):
        backbone.load(str(tmp_path / "other"), 0)
    with pytest.raises(FileNotFoundError, match="MultiModalRepresentationLearner"):
        checkpoint_path(str(tmp_path / "no_run"))


def test_no_representation_layer_equals_plain_clip(clip_model):
    """Tokens mapped to zeros and inserted at no layer: MMRL's encoders are plain CLIP's."""
    zeros = [torch.zeros(N_TOKENS, 64)]
    image = torch.randn(2, 3, 32, 32)
    ids = clip.tokenize([TEMPLATE.format(c) for c in CLASSES])
    with torch.no_grad():
        f_cls, _ = MMRLImageEncoder(clip_model.visual, [])(image, zeros)
        text = MMRLTextEncoder(clip_model, [])(clip_model.token_embedding(ids), ids, zeros)
        torch.testing.assert_close(f_cls, clip_model.encode_image(image))
        torch.testing.assert_close(text, clip_model.encode_text(ids))


def test_82_token_text_path_matches_hand_written_reference(clip_model):
    torch.manual_seed(2)
    tokens = [torch.randn(N_TOKENS, 64) for _ in LAYERS]
    ids = clip.tokenize([TEMPLATE.format(c) for c in CLASSES])
    with torch.no_grad():
        ours = MMRLTextEncoder(clip_model, LAYERS)(clip_model.token_embedding(ids), ids, tokens)
        torch.testing.assert_close(ours, reference_text(clip_model, ids, tokens))


@pytest.mark.parametrize("task, dataset, subsample, branch", [
    ("B2N", "OxfordPets", "base", "fusion"), ("B2N", "OxfordPets", "new", "cls"),
    ("B2N", "OxfordPets", "all", "cls"), ("FS", "OxfordPets", "all", "fusion"),
    ("CD", "ImageNet", "all", "fusion"), ("CD", "OxfordPets", "all", "cls"),
    ("CD", "ImageNetV2", "all", "cls")])
def test_branch_rule_for_mmrl_and_fvgpt_mmrl(clip_model, task, dataset, subsample, branch, tmp_path):
    cfg = mmrl_cfg("TASK", task, "DATASET.NAME", dataset, "DATASET.SUBSAMPLE_CLASSES", subsample)
    assert mmrl_branch(cfg) == branch  # MMRL's own test-time logits
    state = write_upstream_checkpoint(str(tmp_path), CHECKPOINT_FOLDERS[0], clip_model, 3)
    backbone = MMRLBackbone(cfg, CLASSES, clip_model, TEMPLATE)  # FVGPT_MMRL's z(x)
    backbone.load(str(tmp_path), 0)
    image = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        z_cls, z_rep = reference_logits(clip_model, state, image, template_for(dataset))
    expected = 0.7 * z_cls + 0.3 * z_rep if branch == "fusion" else z_cls
    torch.testing.assert_close(backbone.logits(backbone.image_features(image)), expected,
                               rtol=1e-4, atol=1e-4)


def test_unknown_task_is_named():
    with pytest.raises(ValueError, match="TASK must be one of"):
        mmrl_branch(mmrl_cfg("TASK", "B2X"))


@pytest.mark.parametrize("engine", ["builtin", "real"])
def test_mmrl_then_fvgpt_then_new_classes_through_train_py(engine, tmp_path, request):
    env = request.getfixturevalue("real_dassl_env") if engine == "real" else None
    torch.manual_seed(0)
    small_clip = tmp_path / "small_clip.pt"
    torch.save(CLIP(**SMALL_CLIP).state_dict(), small_clip)
    tree = build_tree("OxfordPets", str(tmp_path / "data"))

    def train(trainer, out, subsample, *opts, eval_from=None):
        cmd = [sys.executable, "train.py", "--root", tree.root, "--seed", "1", "--trainer", trainer,
               "--dataset-config-file", "configs/datasets/oxford_pets.yaml",
               "--config-file", f"configs/trainers/{trainer}/world.yaml", "--output-dir", str(tmp_path / out)]
        if eval_from:
            cmd += ["--eval-only", "--model-dir", str(tmp_path / eval_from), "--load-epoch", "1"]
        cmd += ["MODEL.BACKBONE.NAME", str(small_clip), "INPUT.SIZE", "(32, 32)",
                "OPTIM.MAX_EPOCH", "1", "TRAINER.MMRL.REP_LAYERS", str(LAYERS),
                "DATASET.SUBSAMPLE_CLASSES", subsample, *opts]
        run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
        log = run.stdout + run.stderr
        assert run.returncode == 0, log[-3000:]
        assert f"Dassl engine: {engine}" in log and re.search(r"\* accuracy: [\d.]+%", log)
        return log

    log = train("MMRL", "mmrl", "base")
    assert "Test-time logits: fusion" in log
    assert os.path.isfile(tmp_path / "mmrl" / "MultiModalRepresentationLearner" / "model.pth.tar-1")
    if engine == "builtin":  # MMRL's own new-class run; one engine is enough for it
        assert "Test-time logits: cls" in train("MMRL", "mmrl_new", "new", eval_from="mmrl")
    backbone = ["TRAINER.FVGPT.BACKBONE_DIR", str(tmp_path / "mmrl")]
    log = train("FVGPT_MMRL", "fvgpt", "base", *backbone)
    assert "MMRL branch: fusion logits" in log and "Test-time branch: fdc" in log
    log = train("FVGPT_MMRL", "fvgpt_new", "new", *backbone, eval_from="fvgpt")
    assert "MMRL branch: cls logits" in log and "Test-time branch: pc" in log


def test_upstream_dataset_overrides_are_an_option():
    cfg = mmrl_cfg("DATASET.NAME", "EuroSAT")
    apply_dataset_overrides(cfg, [])
    assert (cfg.TRAINER.MMRL.REP_DIM, cfg.TRAINER.MMRL.REG_WEIGHT) == (REP_DIM, 1.0)  # default: off
    opts = ["TRAINER.MMRL.DATASET_OVERRIDES", "True", "TRAINER.MMRL.REG_WEIGHT", "0.3"]
    cfg.merge_from_list(opts)
    apply_dataset_overrides(cfg, opts)
    assert (cfg.TRAINER.MMRL.REP_DIM, cfg.TRAINER.MMRL.REG_WEIGHT) == (2048, 0.3)  # the command line wins


def test_amp_run_resumes_its_grad_scaler(capsys):
    """MMRL trains with the shared prompt-tuning step, so with AMP the GradScaler's state is
    part of the resume state: a resumed run scales its loss as the uninterrupted one would.
    (The scaler runs on the CPU here; the trainer uses AMP on CUDA only.)"""
    from trainers.mmrl import MMRL

    def amp_trainer():
        trainer = MMRL.__new__(MMRL)  # only the resume state is exercised
        trainer.best_result = -float("inf")
        trainer.scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
        return trainer

    running = amp_trainer()
    param = torch.nn.Parameter(torch.zeros(2))
    optim = torch.optim.SGD([param], lr=1.0)
    running.scaler.scale((param * torch.tensor([1.0, float("inf")])).sum()).backward()
    running.scaler.step(optim)  # an overflowing step is skipped...
    running.scaler.update()  # ...and the scale backs off
    assert running.scaler.get_scale() == 512.0

    resumed = amp_trainer()
    resumed.load_trainer_state(running.trainer_state())
    assert resumed.scaler.state_dict() == running.scaler.state_dict()

    older = amp_trainer()  # a resume file written before the scaler was saved
    older.load_trainer_state({"best_result": 0.0})
    assert older.scaler.get_scale() == 1024.0
    assert "no GradScaler state" in capsys.readouterr().out
