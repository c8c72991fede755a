"""Tuning and inference cost of a backbone vs. FVG-PT on it, ViT-B/16 shape (paper Table 7).

Random weights of the real ViT-B/16 shape stand in for OpenAI's (cost does not depend on the
values); images are random tensors. For ``--backbone`` (any of fvgpt.backbones.registry) and for
FVG-PT on it, prints images/s and peak memory of one optimisation step (the backbone's own
tuning model, loss and optimiser as its trainer builds them, with its base-to-new config;
FVG-PT: frozen backbone + head, full and foreground views, plain CLIP pass where the backbone
changes the image encoder), the learnable parameters, and inference images/s on the base
branch and the new branch. Class text features are cached in both (computed once, as MMRL's
eval mode and FVG-PT's frozen backbone do), so inference times image encoding and heads only.
Peak memory: on the GPU the allocator's peak; on the CPU the peak resident set size (VmHWM,
reset before each row), which includes the weights. Paper Table 7 (MMRL, Flowers102, V100):
MMRL tuning 87.5 img/s, 2010 MB, inference 611 img/s; FVG-PT 153.4 img/s, 808 MB, 848 img/s.

    python scripts/benchmark_efficiency.py --backbone MMRL [--device cuda] [--batch-size 4]
"""
import argparse
import os
import sys
import time

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from fvgpt.clip_import import clip  # noqa: E402
from fvgpt.backbones.registry import BACKBONES  # noqa: E402
from fvgpt.config import add_project_config, merge_config_file  # noqa: E402
from fvgpt.clip_loader import set_precision  # noqa: E402
from fvgpt.model import FVGPT  # noqa: E402
from fvgpt.modules import FVGPTHead  # noqa: E402
from dassl.config import get_cfg_default  # noqa: E402
from dassl.optim import build_optimizer  # noqa: E402

VIT_B16 = dict(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768,
               vision_patch_size=16, context_length=77, vocab_size=49408,
               transformer_width=512, transformer_heads=8, transformer_layers=12)
TEMPLATE = "a photo of a {}."
SPLITS = {"base": "fdc", "new": "pc"}  # class split -> FVG-PT's test-time branch


def backbone_config(record):
    """The default config with the backbone's base-to-new config merged (its optimiser and
    its own settings, e.g. CoOp's 4 context tokens, MMRL's representation layers)."""
    cfg = get_cfg_default()
    add_project_config(cfg)
    merge_config_file(cfg, record.config_file(REPO, record.config_name("base2new")))
    return cfg


def tuning_step(record, cfg, classnames, clip_model, device):
    """The backbone's own optimisation step (model, trainable parameters, loss and optimiser
    as its trainer builds them); returns (step(image, label), learnable parameter count)."""
    _, trainable, loss = record.adapter.tuning_parts(cfg, classnames, clip_model, device)
    optim = build_optimizer(trainable, cfg.OPTIM)

    def step(image, label):
        optim.zero_grad()
        loss(image, label)[0].backward()
        optim.step()
    return step, sum(p.numel() for p in trainable)


def frozen_backbones(record, cfg, classnames, clip_model, device):
    """The frozen backbone per class split (its test-time branch can depend on the split, as
    MMRL's does), class features cached from its current weights."""
    backbones = {}
    for split in SPLITS:
        split_cfg = cfg.clone()
        split_cfg.DATASET.SUBSAMPLE_CLASSES = split
        backbone = record.adapter(split_cfg, classnames, clip_model, TEMPLATE).to(device)
        backbone.cache_inference_state()
        backbones[split] = backbone
    return backbones


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
    names = {name.lower(): name for name in BACKBONES}
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backbone", type=lambda n: names.get(n.lower(), n), choices=list(BACKBONES),
                        default="MMRL")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=4, help="tuning batch (paper: 4)")
    parser.add_argument("--test-batch-size", type=int, default=100)
    parser.add_argument("--classes", type=int, default=51, help="Flowers102 has 51 base classes")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)

    record = BACKBONES[args.backbone]
    cfg = backbone_config(record)
    classnames = [f"class {i}" for i in range(args.classes)]
    clip_model = set_precision(clip.model.build_model(clip.model.CLIP(**VIT_B16).state_dict()),
                               "fp16", device).to(device)
    backbone_step, learnable = tuning_step(record, cfg, classnames, clip_model, device)
    backbones = frozen_backbones(record, cfg, classnames, clip_model, device)
    head = FVGPTHead.from_config(cfg.TRAINER.FVGPT, VIT_B16["embed_dim"],
                                backbones["base"].logit_scale).to(device)
    models = {split: FVGPT(backbone, head) for split, backbone in backbones.items()}
    fvgpt_optim = torch.optim.SGD(head.parameters(), lr=0.0035)

    def fvgpt_step(*batch):  # FVGPTTrainer's: the frozen backbone's passes, then the head's loss
        fvgpt_optim.zero_grad()
        models["base"].losses(models["base"].backbone_outputs(*batch))["loss"].backward()
        fvgpt_optim.step()

    b, tb = args.batch_size, args.test_batch_size
    image = torch.randn(b, 3, 224, 224, device=device)
    image_fg = image * (torch.rand(b, 1, 224, 224, device=device) > 0.5)
    mask = torch.ones(b, 1, 224, 224, device=device)
    label = torch.randint(0, args.classes, (b,), device=device)
    test_image = torch.randn(tb, 3, 224, 224, device=device)

    name = record.name
    rows = [(f"{name} tuning", b, lambda: backbone_step(image, label)),
            ("FVG-PT tuning", b, lambda: fvgpt_step(image, image_fg, mask, label))]
    for split, branch in SPLITS.items():
        backbone = backbones[split]
        rows.append((f"{name} inference {split}", tb, torch.no_grad()(
            lambda backbone=backbone: backbone.logits(backbone.image_features(test_image)))))
        rows.append((f"FVG-PT inference {split}", tb, torch.no_grad()(
            lambda model=models[split], branch=branch: model(test_image, branch))))
    memory = "peak GPU memory" if device.type == "cuda" else "peak resident memory"
    print(f"{'':28s} {'images/s':>9s} {'s/call':>8s} {memory:>21s}")
    for row, n, step in rows:
        seconds, peak = timed(step, device, args.iters, args.warmup)
        print(f"{row:28s} {n / seconds:9.2f} {seconds:8.3f} {peak:18.0f} MB", flush=True)
    print(f"learnable parameters: {name} {learnable:,}, "
          f"FVG-PT {sum(p.numel() for p in head.parameters()):,}")
    print(f"(device {device}, {torch.cuda.get_device_name() if device.type == 'cuda' else 'CPU'}, "
          f"tuning batch {b}, test batch {tb}, {args.classes} classes, {torch.get_num_threads()} "
          f"threads, torch {torch.__version__}; class features cached in both)")


if __name__ == "__main__":
    main()
