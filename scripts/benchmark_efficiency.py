"""Tuning and inference cost of a backbone vs. FVG-PT on it, ViT-B/16 shape (paper Table 7).

Random weights of the real ViT-B/16 shape stand in for OpenAI's (cost does not depend on the
values); images are random tensors. For ``--backbone`` and for FVG-PT on it, prints images/s
and peak memory of one optimisation step (the backbone's own loss and optimiser; FVG-PT:
frozen backbone + head, full and foreground views, plain CLIP pass where the backbone changes
the image encoder), the learnable parameters, and inference images/s on the base branch and
the new branch. Class text features are cached in both (computed once, as MMRL's eval mode
and FVG-PT's frozen backbone do), so inference times image encoding and heads only.
Peak memory: on the GPU the allocator's peak; on the CPU the peak resident set size (VmHWM,
reset before each row), which includes the weights. Paper Table 7 (MMRL, Flowers102, V100):
MMRL tuning 87.5 img/s, 2010 MB, inference 611 img/s; FVG-PT 153.4 img/s, 808 MB, 848 img/s.

    python scripts/benchmark_efficiency.py --backbone mmrl [--device cuda] [--batch-size 4]
"""
import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fvgpt.clip_import import clip  # noqa: E402
from fvgpt.backbones.coop import CoOpBackbone, CoOpCLIP  # noqa: E402
from fvgpt.backbones.mmrl import (TRAINABLE, MMRLBackbone, MMRLCLIP, branch_logits,  # noqa: E402
                                  mmrl_loss)
from fvgpt.config import add_project_config  # noqa: E402
from fvgpt.clip_loader import set_precision  # noqa: E402
from fvgpt.model import FVGPT  # noqa: E402
from fvgpt.modules import FVGPTHead  # noqa: E402
from dassl.config import get_cfg_default  # noqa: E402

VIT_B16 = dict(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768,
               vision_patch_size=16, context_length=77, vocab_size=49408,
               transformer_width=512, transformer_heads=8, transformer_layers=12)
TEMPLATE = "a photo of a {}."


class Backbone:
    """What the benchmark needs of a backbone: its tuning step, its inference per branch,
    its learnable parameter count, and FVG-PT's adapter on it (class features loaded)."""

    def __init__(self, name, learnable, tuning_step, inference, adapter):
        self.name, self.learnable, self.tuning_step = name, learnable, tuning_step
        self.inference, self.adapter = inference, adapter  # inference: {"base": f, "new": f}


def tuning_step(loss, optim):
    """One optimisation step on ``loss(*batch)``: zero the gradients, backpropagate, step."""
    def step(*batch):
        optim.zero_grad()
        loss(*batch).backward()
        optim.step()
    return step


def coop(cfg, classnames, clip_model, device):
    """CoOp with 4 context tokens (paper Table 8), SGD, CE on its logits."""
    cfg.TRAINER.COOP.N_CTX = 4
    model = CoOpCLIP(cfg.TRAINER.COOP, classnames, clip_model).to(device)
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("prompt_learner"))
    optim = torch.optim.SGD(model.prompt_learner.parameters(), lr=0.0035)

    def loss(image, label):  # CoOp's own loss (trainers/coop.py)
        return F.cross_entropy(model(image), label)

    adapter = CoOpBackbone(cfg, classnames, clip_model, TEMPLATE).to(device)
    with torch.no_grad():
        adapter.class_features = adapter.model.encode_classes()

    def infer(image):  # the same logits on both branches
        return adapter.logits(adapter.image_features(image))

    learnable = sum(p.numel() for p in model.prompt_learner.parameters())
    return Backbone("CoOp", learnable, tuning_step(loss, optim), {"base": infer, "new": infer},
                    adapter)


def mmrl(cfg, classnames, clip_model, device):
    """MMRL as configs/trainers/MMRL/vit_b16.yaml: 5 tokens, layers 6-12, REP_DIM 512, AdamW."""
    mmrl_cfg = cfg.TRAINER.MMRL
    mmrl_cfg.REP_LAYERS = list(range(6, 13))
    model = MMRLCLIP(mmrl_cfg, classnames, clip_model, TEMPLATE).to(device)
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(TRAINABLE))
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    with torch.no_grad():
        tokens = model.tokenized_prompts
        clip_text = F.normalize(clip_model.encode_text(tokens).float(), dim=-1)

    def loss(image, label):  # MMRL's own loss on the plain CLIP pass it regularises towards
        with torch.no_grad():
            clip_image = F.normalize(clip_model.visual(image.to(model.dtype)).float(), dim=-1)
        logits, logits_rep, f, g = model(image)
        return mmrl_loss(logits, logits_rep, f, g, clip_image, clip_text, label,
                         mmrl_cfg.ALPHA, mmrl_cfg.REG_WEIGHT)

    class_features, visual_tokens = model.inference_state()

    def inference(branch):
        def infer(image):
            f_cls, f_rep = model.encode_image(image, visual_tokens)
            return branch_logits(f_cls, f_rep, class_features, branch, mmrl_cfg.ALPHA)
        return infer

    cfg.DATASET.SUBSAMPLE_CLASSES = "base"  # FVG-PT trains on MMRL's base branch (fused z(x))
    adapter = MMRLBackbone(cfg, classnames, clip_model, TEMPLATE).to(device)
    adapter.class_features, adapter.visual_tokens = adapter.model.inference_state()
    learnable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return Backbone("MMRL", learnable, tuning_step(loss, optim),
                    {"base": inference("fusion"), "new": inference("cls")}, adapter)


BACKBONES = {"coop": coop, "mmrl": mmrl}  # name -> builder(cfg, classnames, clip_model, device)
FVGPT_BRANCHES = {"base": "fdc", "new": "pc"}  # FVG-PT's test-time branch per class split


def fvgpt_parts(model):
    """FVG-PT's tuning step (as FVGPTTrainer's: the frozen backbone's passes, then the head's
    loss) and its inference per class split, for an ``FVGPT`` model."""
    def loss(image, image_fg, mask, label):
        return model.losses(model.backbone_outputs(image, image_fg, mask, label))["loss"]

    step = tuning_step(loss, torch.optim.SGD(model.head.parameters(), lr=0.0035))
    return step, {split: lambda image, branch=branch: model(image, branch)
                  for split, branch in FVGPT_BRANCHES.items()}


def reset_peak(device):
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    else:
        with open("/proc/self/clear_refs", "w") as f:  # Linux: resets VmHWM to the current RSS
            f.write("5")


def peak_mb(device):
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    with open("/proc/self/status") as f:
        line = next(x for x in f if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def timed(step, device, iters, warmup):
    """Seconds per call of ``step`` and peak memory (MB) over warm-up and timed calls."""
    reset_peak(device)
    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / iters, peak_mb(device)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backbone", choices=sorted(BACKBONES), default="mmrl")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=4, help="tuning batch (paper: 4)")
    parser.add_argument("--test-batch-size", type=int, default=100)
    parser.add_argument("--classes", type=int, default=51, help="Flowers102 has 51 base classes")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)

    cfg = get_cfg_default()
    add_project_config(cfg)
    classnames = [f"class {i}" for i in range(args.classes)]
    clip_model = set_precision(clip.model.build_model(clip.model.CLIP(**VIT_B16).state_dict()),
                               "fp16", device).to(device)
    backbone = BACKBONES[args.backbone](cfg, classnames, clip_model, device)
    head = FVGPTHead.from_config(cfg.TRAINER.FVGPT, VIT_B16["embed_dim"],
                                backbone.adapter.logit_scale).to(device)
    fvgpt_step, fvgpt_inference = fvgpt_parts(FVGPT(backbone.adapter, head))

    b, tb = args.batch_size, args.test_batch_size
    image = torch.randn(b, 3, 224, 224, device=device)
    image_fg = image * (torch.rand(b, 1, 224, 224, device=device) > 0.5)
    mask = torch.ones(b, 1, 224, 224, device=device)
    label = torch.randint(0, args.classes, (b,), device=device)
    test_image = torch.randn(tb, 3, 224, 224, device=device)

    rows = [(f"{backbone.name} tuning", b, lambda: backbone.tuning_step(image, label)),
            ("FVG-PT tuning", b, lambda: fvgpt_step(image, image_fg, mask, label))]
    for branch in ("base", "new"):
        rows.append((f"{backbone.name} inference {branch}", tb,
                     torch.no_grad()(lambda f=backbone.inference[branch]: f(test_image))))
        rows.append((f"FVG-PT inference {branch}", tb,
                     torch.no_grad()(lambda f=fvgpt_inference[branch]: f(test_image))))
    memory = "peak GPU memory" if device.type == "cuda" else "peak resident memory"
    print(f"{'':28s} {'images/s':>9s} {'s/call':>8s} {memory:>21s}")
    for name, n, step in rows:
        seconds, peak = timed(step, device, args.iters, args.warmup)
        print(f"{name:28s} {n / seconds:9.2f} {seconds:8.3f} {peak:18.0f} MB", flush=True)
    print(f"learnable parameters: {backbone.name} {backbone.learnable:,}, "
          f"FVG-PT {sum(p.numel() for p in head.parameters()):,}")
    print(f"(device {device}, {torch.cuda.get_device_name() if device.type == 'cuda' else 'CPU'}, "
          f"tuning batch {b}, test batch {tb}, {args.classes} classes, {torch.get_num_threads()} "
          f"threads, torch {torch.__version__}; class features cached in both)")


if __name__ == "__main__":
    main()
