"""Pre-train the FG-World tiny CLIP and save it as a plain fp16 state dict.

    python scripts/pretrain_tiny_clip.py --out fvgpt/world/assets/tiny_clip_world.pt --seed 0 --threads 1

Prints zero-shot accuracy ("a photo of a {}.") on the benchmark's val and test
splits, base images among base classes and new among new (CoOp's protocol),
on full images and on foreground views (x * mask).
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fvgpt.world import tiny_clip  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description="Pre-train the FG-World tiny CLIP.")
    parser.add_argument("--out", default=tiny_clip.ASSET_PATH, help="checkpoint path")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (the shipped weights were made with 1)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--eval-every", type=int, default=250,
                        help="zero-shot on the val split every N steps (0: never)")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    start = time.time()
    model = tiny_clip.pretrain(seed=args.seed, steps=args.steps, batch_size=args.batch_size,
                               lr=args.lr, eval_every=args.eval_every,
                               eval_images=tiny_clip.benchmark_images("val"), device=args.device)
    print(f"pre-training took {time.time() - start:.0f}s "
          f"({args.threads} threads, device {args.device})")
    for split in ("val", "test"):
        for view, fg in (("full", False), ("foreground", True)):
            acc = tiny_clip.base_new_accuracy(model, *tiny_clip.benchmark_images(split, fg))
            print(f"zero-shot {split} {view}: base {acc['base']:.4f} new {acc['new']:.4f}")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.save(tiny_clip.checkpoint_state_dict(model), args.out)
    print(f"saved {args.out} ({os.path.getsize(args.out) / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
