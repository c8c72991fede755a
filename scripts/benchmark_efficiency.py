"""Tuning and inference cost of CoOp vs. CoOp + FVG-PT on a ViT-B/16-shaped CLIP.

Random weights of the real ViT-B/16 shape stand in for OpenAI's (cost does not depend
on the values); images are random tensors. Prints images/s and peak GPU memory for one
optimisation step (CoOp: prompt learner; FVG-PT: frozen CoOp + head, two image passes)
and for inference, and the FVG-PT / CoOp ratios; the paper's Table 7 reports the same
kind of ratio for MMRL (FVG-PT tuning 153.4 vs 87.5 img/s, 808 vs 2010 MB).

    python scripts/benchmark_efficiency.py [--device cuda] [--batch-size 4] [--classes 50]
"""
import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from clip.model import CLIP, build_model  # noqa: E402
from fvgpt.backbones.coop import CoOpBackbone, CoOpCLIP  # noqa: E402
from fvgpt.config import add_project_config  # noqa: E402
from fvgpt.clip_loader import set_precision  # noqa: E402
from fvgpt.modules import FVGPTHead  # noqa: E402
from dassl.config import get_cfg_default  # noqa: E402

VIT_B16 = dict(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768,
               vision_patch_size=16, context_length=77, vocab_size=49408,
               transformer_width=512, transformer_heads=8, transformer_layers=12)


def timed(step, device, iters, warmup=3):
    """Seconds per call of ``step`` and peak memory (MB) over the timed calls."""
    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(iters):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else float("nan")
    return (time.perf_counter() - start) / iters, peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--classes", type=int, default=50)
    parser.add_argument("--iters", type=int, default=20)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)

    cfg = get_cfg_default()
    add_project_config(cfg)
    cfg.TRAINER.COOP.N_CTX = 4
    classnames = [f"class {i}" for i in range(args.classes)]
    clip_model = set_precision(build_model(CLIP(**VIT_B16).state_dict()), "fp16", device).to(device)

    coop = CoOpCLIP(cfg.TRAINER.COOP, classnames, clip_model).to(device)
    for name, p in coop.named_parameters():
        p.requires_grad_(name.startswith("prompt_learner"))
    coop_optim = torch.optim.SGD(coop.prompt_learner.parameters(), lr=0.0035)

    backbone = CoOpBackbone(cfg, classnames, clip_model, "a photo of a {}.").to(device)
    with torch.no_grad():
        backbone.class_features = backbone.model.encode_classes()
    head = FVGPTHead.from_config(cfg.TRAINER.FVGPT, VIT_B16["embed_dim"], backbone.logit_scale).to(device)
    head_optim = torch.optim.SGD(head.parameters(), lr=0.0035)

    b = args.batch_size
    image = torch.randn(b, 3, 224, 224, device=device)
    image_fg = image * (torch.rand(b, 1, 224, 224, device=device) > 0.5)
    mask = torch.ones(b, 1, 224, 224, device=device)
    label = torch.randint(0, args.classes, (b,), device=device)

    def coop_step():
        loss = F.cross_entropy(coop(image), label)
        coop_optim.zero_grad()
        loss.backward()
        coop_optim.step()

    def fvgpt_step():
        features = backbone.image_features(image)
        logits = backbone.logits(features)
        logits_fg = backbone.logits(backbone.image_features(image_fg))
        out = head.losses(features, backbone.class_features, logits, logits_fg,
                          backbone.clip_logits(features), mask, label)
        head_optim.zero_grad()
        out["loss"].backward()
        head_optim.step()

    @torch.no_grad()
    def coop_inference():
        coop(image)

    @torch.no_grad()
    def fvgpt_inference():
        head.fdc_logits(backbone.image_features(image), backbone.class_features)

    rows = {}
    for name, step in (("CoOp tuning", coop_step), ("FVG-PT tuning", fvgpt_step),
                       ("CoOp inference", coop_inference), ("FVG-PT inference", fvgpt_inference)):
        seconds, peak = timed(step, device, args.iters)
        rows[name] = (b / seconds, peak)
        print(f"{name:17s} {b / seconds:8.1f} img/s   peak {peak:8.0f} MB", flush=True)
    print(f"\nlearnable parameters: CoOp {sum(p.numel() for p in coop.prompt_learner.parameters()):,}, "
          f"FVG-PT {sum(p.numel() for p in head.parameters()):,}")
    for kind in ("tuning", "inference"):
        (fv, fv_mem), (co, co_mem) = rows[f"FVG-PT {kind}"], rows[f"CoOp {kind}"]
        print(f"FVG-PT / CoOp {kind}: speed x{fv / co:.2f}, peak memory x{fv_mem / co_mem:.2f}")
    print(f"(device {device}, {torch.cuda.get_device_name() if device.type == 'cuda' else 'CPU'}, "
          f"batch {b}, {args.classes} classes, torch {torch.__version__})")


if __name__ == "__main__":
    main()
