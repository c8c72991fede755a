"""Grad-CAM maps of a CLIP ViT's prediction (paper Fig. 1), for any Dassl trainer.

The class score is whatever ``trainer.model_inference`` returns (zero-shot CLIP, a prompt
learner, or FVG-PT on its test-time branch); the map is Grad-CAM (Selvaraju et al., ICCV
2017) on the patch tokens entering one residual block of the image encoder (the output of its
``ln_1``; by default the last block, the usual target layer for vision transformers). Frozen backbones run their
inference under ``torch.no_grad``; ``gradients_through_no_grad`` lets the gradient through
for the duration of one map.
"""
import contextlib

import numpy as np
import torch
import torch.nn.functional as F

from .clip_import import clip


@contextlib.contextmanager
def gradients_through_no_grad():
    """Within the block, ``torch.no_grad`` (context or decorator) leaves gradients enabled."""
    no_grad = torch.no_grad
    enter, exit_ = no_grad.__enter__, no_grad.__exit__
    no_grad.__enter__ = lambda self: None
    no_grad.__exit__ = lambda self, *exc: None
    try:
        with torch.enable_grad():
            yield
    finally:
        no_grad.__enter__, no_grad.__exit__ = enter, exit_


def find_visual_encoder(trainer):
    """The CLIP ``VisionTransformer`` a trainer predicts with (there must be exactly one)."""
    models = [m for m in vars(trainer).values() if isinstance(m, torch.nn.Module)]
    found = {id(m): m for model in models for m in model.modules()
             if isinstance(m, clip.model.VisionTransformer)}
    if len(found) != 1:
        raise ValueError(f"Expected one CLIP ViT image encoder in {type(trainer).__name__}, found "
                         f"{len(found)}: Grad-CAM supports ViT CLIP models only")
    return next(iter(found.values()))


class GradCAM:
    """Grad-CAM on the ViT's last block.

    The patch tokens follow the class token, unless the sequence there is longer than
    1 + patches and tokens were inserted after the class token (MMRL): then they start at
    ``inserted_patch_start``. Prompts appended after the patches (PromptSRC) need nothing.
    """

    def __init__(self, visual, inserted_patch_start=1, block=-1):
        self.visual = visual
        self.inserted_patch_start = inserted_patch_start
        self.block = block
        self.grid = visual.input_resolution // visual.conv1.kernel_size[0]

    def __call__(self, score_fn, image, labels):
        """Maps (N, H, W) in [0, 1] of ``score_fn(image)[n, labels[n]]``, upsampled to the image."""
        captured = []

        def keep(module, inputs, output):  # ln_1's output, sequence-first (L, N, D)
            leaf = output.detach().requires_grad_()  # the frozen encoder tracks no gradient itself
            captured.append(leaf)
            return leaf

        handle = self.visual.transformer.resblocks[self.block].ln_1.register_forward_hook(keep)
        try:
            with gradients_through_no_grad():
                scores = score_fn(image)
                scores.gather(1, labels.view(-1, 1)).sum().backward()
        finally:
            handle.remove()
        n_patches = self.grid * self.grid
        cam = 0
        for tokens in captured:  # a backbone may run the encoder twice (prompted and plain)
            start = 1 if tokens.shape[0] == 1 + n_patches else self.inserted_patch_start
            patches = slice(start, start + n_patches)
            act, grad = tokens[patches].float(), tokens.grad[patches].float()  # (P, N, D)
            weights = grad.mean(0, keepdim=True)  # Grad-CAM: channel weight = mean gradient
            cam = cam + (weights * act).sum(-1)  # (P, N)
        cam = F.relu(cam.t().reshape(-1, 1, self.grid, self.grid))
        cam = F.interpolate(cam, size=image.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
        peak = cam.flatten(1).max(1).values.clamp_min(1e-12)
        return (cam / peak.view(-1, 1, 1)).detach()


def trainer_cam(trainer, image, labels, block=-1):
    """Grad-CAM of ``trainer.model_inference`` for the given labels (its encoder found for it)."""
    visual = find_visual_encoder(trainer)
    backbone = getattr(trainer, "backbone", None)
    inserted_patch_start = getattr(backbone, "visual_patch_start", 1)
    return GradCAM(visual, inserted_patch_start, block)(trainer.model_inference, image, labels)


def heat_colours(cam):
    """A black-red-yellow-white ramp for maps in [0, 1]: (..., 3) uint8."""
    stops = np.array([[0, 0, 0], [180, 0, 0], [255, 200, 0], [255, 255, 255]], dtype=np.float32)
    position = np.clip(cam, 0, 1) * (len(stops) - 1)
    low = np.minimum(position.astype(int), len(stops) - 2)
    frac = (position - low)[..., None]
    return (stops[low] * (1 - frac) + stops[low + 1] * frac).astype(np.uint8)


def overlay(image, cam, alpha=0.7):
    """An RGB uint8 image with the map blended over it where it is high."""
    weight = (alpha * np.clip(cam, 0, 1))[..., None]
    return (image * (1 - weight) + heat_colours(cam) * weight).astype(np.uint8)


def save_grid(path, rows, column_titles, row_labels=None, tile_labels=None):
    """Write a labelled PNG grid of (H, W, 3) uint8 tiles: a title over each column, a label
    left of each row and, optionally, a caption under each tile (``tile_labels[i][j]``)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = max(len(row) for row in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.7 * cols + 0.8, 1.9 * len(rows)),
                             squeeze=False)
    for i, row in enumerate(rows):
        for j in range(cols):
            ax = axes[i][j]
            ax.set_xticks([]), ax.set_yticks([])
            if j >= len(row):
                ax.axis("off")
                continue
            ax.imshow(row[j], interpolation="nearest")
            if i == 0:
                ax.set_title(column_titles[j], fontsize=8)
            if tile_labels and tile_labels[i][j]:
                ax.set_xlabel(tile_labels[i][j], fontsize=7)
        if row_labels:
            axes[i][0].set_ylabel(row_labels[i], fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
