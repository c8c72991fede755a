"""Grad-CAM of CLIP ViT predictions (paper Fig. 1) and the command that draws the grids."""
import re
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from clip.model import CLIP
from fvgpt.attention_maps import GradCAM, gradients_through_no_grad
from conftest import SMALL_CLIP
from test_pipeline import REPO, coop_base, train, world  # noqa: F401


@torch.no_grad()
def frozen_scores(model, image, text_features):
    """How frozen backbones predict: no gradient, as in their ``model_inference``."""
    return F.normalize(model.encode_image(image), dim=-1) @ text_features.t()


def test_gradients_pass_no_grad_only_inside_the_context():
    weight = torch.ones(2, requires_grad=True)
    score = torch.no_grad()(lambda: (weight * 3).sum())
    assert not score().requires_grad
    with gradients_through_no_grad():
        assert score().requires_grad
    assert not score().requires_grad


def test_grad_cam_equals_a_hand_computation_on_the_last_block():
    torch.manual_seed(0)
    model = CLIP(**SMALL_CLIP).eval().requires_grad_(False)
    visual, block = model.visual, model.visual.transformer.resblocks[-1]
    image = torch.randn(2, 3, 32, 32)
    text = F.normalize(torch.randn(5, SMALL_CLIP["embed_dim"]), dim=-1)
    labels = torch.tensor([3, 1])

    cams = GradCAM(visual)(lambda x: frozen_scores(model, x, text), image, labels)

    entering = []
    handle = block.register_forward_hook(lambda m, inputs, out: entering.append(inputs[0]))
    visual(image)
    handle.remove()
    x_in = entering[0]  # (L, N, D) tokens entering the last block
    h = block.ln_1(x_in).detach().requires_grad_()
    x = x_in + block.attn(h, h, h, need_weights=False)[0]
    x = x + block.mlp(block.ln_2(x))
    features = F.normalize(visual.ln_post(x[0]) @ visual.proj, dim=-1)
    (features @ text.t()).gather(1, labels.view(-1, 1)).sum().backward()
    grid = 32 // SMALL_CLIP["vision_patch_size"]
    act, grad = h[1:].detach(), h.grad[1:]
    cam = F.relu((grad.mean(0, keepdim=True) * act).sum(-1)).t().reshape(2, 1, grid, grid)
    cam = F.interpolate(cam, size=(32, 32), mode="bilinear", align_corners=False)[:, 0]
    cam = cam / cam.flatten(1).max(1).values.view(-1, 1, 1)

    assert cams.shape == (2, 32, 32) and cams.max() == 1.0
    assert torch.allclose(cams, cam, atol=1e-5)


def test_attention_map_command_draws_the_grid(world, small_clip, coop_base, tmp_path):  # noqa: F811
    coop_dir, _ = coop_base
    fvgpt_dir = tmp_path / "fvgpt"
    train(world, fvgpt_dir, "FVGPT_CoOp", "TRAINER.FVGPT.BACKBONE_DIR", str(coop_dir),
          "DATASET.SUBSAMPLE_CLASSES", "base", small_clip=small_clip)
    out = tmp_path / "grid.png"
    run = subprocess.run(
        [sys.executable, "scripts/attention_maps.py", "--root", str(world), "--shots", "2",
         "--backbone", "CoOp", str(coop_dir), "--fvgpt", "FVGPT_CoOp", str(fvgpt_dir),
         "--load-epoch", "1", "--indices", "0", "5", "--out", str(out),
         "MODEL.BACKBONE.NAME", small_clip],
        cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    shares = re.findall(r"^  (.+?) +([\d.]+)%  \(accuracy", run.stdout, re.M)
    assert [name for name, _ in shares] == ["CLIP (zero-shot)", "CoOp", "CoOp + FVG-PT"]
    assert all(0.0 <= float(share) <= 100.0 for _, share in shares)
    grid = np.asarray(Image.open(out))
    height, width = grid.shape[:2]
    assert width > height > 0  # 2 rows of 5 labelled tiles: image, mask, 3 maps
