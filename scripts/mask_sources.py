"""Mask sources on FG-World: masks made by ``python -m fvgpt.make_masks`` (grabcut, clip with the
embedded tiny CLIP) against the world's exact masks, next to the simulated segmenter masks the
world ships; then CoOp + FVG-PT trained on each source, base-to-new, mean ± std over seeds.

1. ``make_masks`` writes each method's masks for every FG-World image under
   ``ROOT/mask_make_<method>`` (a CLI call; skipped where done, so the script resumes).
2. Mask quality over all 2880 images against ``ROOT/mask_exact``: mean IoU (an empty mask has
   IoU 0), share of empty masks, mean foreground area; for the methods, the segmenter masks
   (``ROOT/mask``) and the exact masks themselves.
3. CoOp + FVG-PT (``configs/trainers/FVGPT_CoOp/world.yaml``, as the main job) with
   ``TRAINER.FVGPT.MASK_ROOT`` set to each source, on the main job's CoOp backbone runs
   (``--backbone-output``, trained there if missing); each source is an ablation variant
   (sweeps/ablation.py), its runs in ``<output>/<source>/FVGPT_CoOp/<base|new>/seed<S>``,
   skipped when finished. D_fg (base test) is measured with the source's own masks.

Prints the table and writes ``mask_sources.md`` in ``--output``.

    python scripts/mask_sources.py [--root data] [--output output/mask_sources] [--seeds 1 2 3]
        [--iou-only] [--opts KEY VALUE ...]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from fvgpt.results import summarise  # noqa: E402
from fvgpt.world.generate import DATASET_DIR, SPLIT_FILE, ensure_world  # noqa: E402
from sweeps import ablation, world  # noqa: E402
from sweeps.plan import WORLD_DATASET, dataset_config  # noqa: E402

METHODS = {  # make_masks options of each method measured here
    "grabcut": [],
    "clip": ["--clip-model", "TinyCLIP-World"],
}


def mask_roots(root):
    """{source name: mask folder}, exact last."""
    return {**{f"make_masks {m}": os.path.join(root, f"mask_make_{m}") for m in METHODS},
            "segmenter (shipped)": os.path.join(root, "mask"),
            "exact": os.path.join(root, "mask_exact")}


def make(root, method):
    """Run make_masks for one method; return its wall time in seconds."""
    start = time.time()
    cmd = [sys.executable, "-m", "fvgpt.make_masks", "--root", root, "--dataset-config-file",
           os.path.relpath(dataset_config(WORLD_DATASET), REPO), "--import", "datasets.all", "--method", method,
           "--mask-root", os.path.join(root, f"mask_make_{method}")] + METHODS[method]
    subprocess.run(cmd, cwd=REPO, check=True)
    return time.time() - start


def image_paths(root):
    """Paths relative to ROOT of every FG-World image (train, val, test)."""
    with open(os.path.join(root, DATASET_DIR, SPLIT_FILE)) as f:
        split = json.load(f)
    return [os.path.join(DATASET_DIR, "images", entry[0])
            for items in split.values() for entry in items]


def read_binary(path):
    with Image.open(path) as f:
        return np.asarray(f.convert("L")) > 127


def quality(root, mask_root, rels):
    """(mean IoU with the exact masks, share of empty masks, mean foreground area) of the masks
    under ``mask_root``."""
    ious, empty, areas = [], 0, []
    for rel in rels:
        mask = read_binary(os.path.join(mask_root, rel))
        exact = read_binary(os.path.join(root, "mask_exact", rel))
        union = (mask | exact).sum()
        ious.append((mask & exact).sum() / union if union else 1.0)
        empty += not mask.any()
        areas.append(mask.mean())
    return float(np.mean(ious)), empty / len(rels), float(np.mean(areas))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    world.add_run_arguments(parser, "where this script's FVG-PT runs go")
    parser.add_argument("--backbone-output", default=os.path.join(REPO, "output", "world_benchmark", "world0"),
                        help="where the CoOp backbone runs are (the main job's output)")
    parser.add_argument("--iou-only", action="store_true", help="mask quality only, no training")
    parser.set_defaults(output=os.path.join(REPO, "output", "mask_sources"))
    args = parser.parse_args(argv)
    args.root, args.output = os.path.abspath(args.root), os.path.abspath(args.output)

    start = time.time()
    ensure_world(args.root, args.world_seed)
    times = {f"make_masks {m}": make(args.root, m) for m in METHODS}
    rels = image_paths(args.root)
    sources = mask_roots(args.root)
    rows = []
    for source, mask_root in sources.items():
        iou, empty, area = quality(args.root, mask_root, rels)
        rows.append({"source": source, "iou": iou, "empty": empty, "area": area})
        print(f"{source}: mean IoU {iou:.3f}, empty {100 * empty:.1f} % of {len(rels)} masks, "
              f"mean foreground area {area:.3f}", flush=True)
    if not args.iou_only:
        per_seed = {source: [] for source in sources}
        for seed in args.seeds:  # seed by seed, so that an early stop still compares every source
            for source, mask_root in sources.items():
                # each mask source changes the foreground views: no replay cache
                sweep = ablation.variant_sweep(
                    args.root, args.output, os.path.abspath(args.backbone_output),
                    source.split(" (")[0].replace(" ", "_"), ["TRAINER.FVGPT.MASK_ROOT", mask_root],
                    [seed], world_seed=args.world_seed, fg_fill=args.fg_fill, opts=args.opts)
                r = ablation.run_variant(sweep, seed)
                per_seed[source].append({"base": r["base"]["accuracy"], "new": r["new"]["accuracy"],
                                         "d_fg": r["base"]["d_fg"]})
        for row, summary in zip(rows, summarise(per_seed)):
            row.update(summary)

    runs = "no training" if args.iou_only else f"seeds {args.seeds}"
    lines = [f"FG-World mask sources ({len(rels)} images; make_masks calls, which skip masks made "
             "before: " + ", ".join(f"{k.split()[1]} {v:.0f}s" for k, v in times.items())
             + f"; {runs}; {time.time() - start:.0f}s in all)", "",
             "| mask source | mean IoU with exact | empty masks | mean foreground area | "
             "CoOp + FVG-PT base | new | HM | D_fg (base test, own masks) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = [f"{r['iou']:.3f}", f"{100 * r['empty']:.1f} %", f"{r['area']:.3f}"]
        cells += ([f"{r[k]:.2f} ± {r[k + '_std']:.2f}" for k in ("base", "new", "hm")]
                  + [f"{r['d_fg']:.4f} ± {r['d_fg_std']:.4f}"] if "hm" in r else ["not run"] * 4)
        lines.append(f"| {r['source']} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    os.makedirs(args.output, exist_ok=True)
    with open(os.path.join(args.output, "mask_sources.md"), "w") as f:
        f.write(text)
    print("\n" + text)
    return rows


if __name__ == "__main__":
    main()
