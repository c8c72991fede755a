"""Grad-CAM grids as in the paper's Fig. 1: image, mask, zero-shot CLIP, backbone, backbone + FVG-PT.

Each row is one test image; each map explains the method's score for the true class on its
test-time branch (``fvgpt.attention_maps``). Cases are the first test images the backbone
gets wrong and FVG-PT right (``--indices`` picks others). Also prints, per method, the share
of Grad-CAM mass inside the foreground mask over the whole test split.

    python scripts/attention_maps.py --root data --backbone CoOp output/.../CoOp/base/seed1 \\
        --fvgpt FVGPT_CoOp output/.../FVGPT_CoOp/base/seed1 --out attention.png
"""
import argparse
import os
import sys

import numpy as np
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import train  # noqa: E402  (CoOp's train.py: config set-up, trainers and readers registered)
from dassl.data.data_manager import build_data_loader  # noqa: E402
from dassl.engine import build_trainer  # noqa: E402
from dassl.utils import set_random_seed  # noqa: E402

from fvgpt.attention_maps import overlay, save_grid, trainer_cam  # noqa: E402
from fvgpt.masked_data import ForegroundEvalWrapper  # noqa: E402


def build(args, trainer, run_dir=None, backbone_dir=None):
    """A trainer as ``train.py --eval-only`` builds it, with its saved weights loaded."""
    config = f"configs/trainers/{'CoOp' if trainer == 'ZeroshotCLIP' else trainer}/{args.cfg}.yaml"
    argv = ["--root", args.root, "--seed", str(args.seed), "--trainer", trainer,
            "--dataset-config-file", args.dataset_config_file,
            "--config-file", os.path.join(REPO, config), "--output-dir", args.scratch,
            "DATASET.NUM_SHOTS", str(args.shots), "DATASET.SUBSAMPLE_CLASSES", args.subsample]
    if backbone_dir:
        argv += ["TRAINER.FVGPT.BACKBONE_DIR", backbone_dir]
    cfg = train.setup_cfg(train.build_parser().parse_args(argv + args.opts))
    set_random_seed(cfg.SEED)
    built = build_trainer(cfg)
    if run_dir:
        built.load_model(run_dir, epoch=args.load_epoch or cfg.OPTIM.MAX_EPOCH)
    built.set_model_mode("eval")
    return built


def test_batches(trainer):
    """The test split with masks, in order."""
    cfg = trainer.cfg
    return build_data_loader(cfg, sampler_type="SequentialSampler",
                             data_source=trainer.dm.dataset.test, batch_size=50, tfm=None,
                             is_train=False, dataset_wrapper=ForegroundEvalWrapper)


def to_rgb(image, cfg):
    """A normalised (3, H, W) tensor back to (H, W, 3) uint8."""
    mean = torch.tensor(cfg.INPUT.PIXEL_MEAN).view(3, 1, 1)
    std = torch.tensor(cfg.INPUT.PIXEL_STD).view(3, 1, 1)
    return (image.cpu() * std + mean).clamp(0, 1).permute(1, 2, 0).mul(255).byte().numpy()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", required=True, help="data folder (--root of the runs)")
    parser.add_argument("--dataset-config-file", default="configs/datasets/fg_world.yaml")
    parser.add_argument("--cfg", default="world", help="config name under configs/trainers/<trainer>/")
    parser.add_argument("--backbone", nargs=2, metavar=("TRAINER", "RUN_DIR"), required=True)
    parser.add_argument("--fvgpt", nargs=2, metavar=("TRAINER", "RUN_DIR"), required=True)
    parser.add_argument("--load-epoch", type=int, default=0, help="0: the config's MAX_EPOCH")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--shots", type=int, default=16)
    parser.add_argument("--subsample", default="base", help="base, new or all classes")
    parser.add_argument("--count", type=int, default=6, help="rows found automatically")
    parser.add_argument("--indices", type=int, nargs="*", help="test images to show instead")
    parser.add_argument("--block", type=int, default=-1, help="image-encoder block to explain")
    parser.add_argument("--out", default="attention_maps.png")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="yacs options for every trainer")
    args = parser.parse_args()
    args.root = os.path.abspath(args.root)
    args.scratch = os.path.abspath(args.out) + ".runs"

    methods = {"CLIP (zero-shot)": build(args, "ZeroshotCLIP"),
               args.backbone[0]: build(args, args.backbone[0], args.backbone[1]),
               f"{args.backbone[0]} + FVG-PT": build(args, args.fvgpt[0], args.fvgpt[1],
                                                     backbone_dir=args.backbone[1])}
    names, trainers = list(methods), list(methods.values())
    device = trainers[0].device
    images, masks, labels = [], [], []
    predicted, cams = {n: [] for n in names}, {n: [] for n in names}
    for batch in test_batches(trainers[0]):
        image, label = batch["img"].to(device), batch["label"].to(device)
        for name, trainer in methods.items():
            with torch.no_grad():
                predicted[name].append(trainer.model_inference(image).argmax(1).cpu())
            cams[name].append(trainer_cam(trainer, image, label, args.block).cpu())
        images.append(batch["img"]), masks.append(batch["mask"].float().view(len(label), *image.shape[-2:]))
        labels.append(label.cpu())
    images, masks, labels = torch.cat(images), torch.cat(masks), torch.cat(labels)
    predicted = {n: torch.cat(v) for n, v in predicted.items()}
    correct = {n: p == labels for n, p in predicted.items()}
    cams = {n: torch.cat(v) for n, v in cams.items()}

    print(f"Grad-CAM mass inside the foreground mask, {len(images)} test images "
          f"(foreground area {masks.mean().item():.1%}):")
    for name in names:
        share = (cams[name] * masks).flatten(1).sum(1) / cams[name].flatten(1).sum(1).clamp_min(1e-12)
        print(f"  {name:24s} {share.mean().item():.1%}  (accuracy {correct[name].float().mean().item():.1%})")

    if args.indices:
        rows = args.indices
    else:
        wanted = (~correct[names[1]] & correct[names[2]]).nonzero().flatten().tolist()
        rows = wanted[:args.count]
        print(f"{len(wanted)} test images: {names[1]} wrong, {names[2]} right; showing {len(rows)}: {rows}")
    cfg = trainers[0].cfg
    classnames = trainers[0].dm.dataset.classnames
    grid, row_labels, tile_labels = [], [], []
    for i in rows:
        rgb = to_rgb(images[i], cfg)
        mask = np.repeat(masks[i].numpy()[..., None] * 255, 3, axis=2).astype(np.uint8)
        grid.append([rgb, mask] + [overlay(rgb, cams[n][i].numpy()) for n in names])
        row_labels.append(f"#{i}, true:\n{classnames[labels[i]]}")
        tile_labels.append(["", ""] + [
            f"{'right' if correct[n][i] else 'wrong'}: {classnames[predicted[n][i]]}" for n in names])
    if not grid:
        sys.exit("No case to show: pass --indices")
    titles = ["image", "foreground mask"] + [f"Grad-CAM\n{n}" for n in names]
    save_grid(args.out, grid, titles, row_labels, tile_labels)
    print(f"Columns: image, mask, {', '.join(names)}. Written to {args.out}")


if __name__ == "__main__":
    main()
