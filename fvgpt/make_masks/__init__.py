"""Foreground masks for any Dassl-registered data set, in the layout FVG-PT reads.

    python -m fvgpt.make_masks --root DATA --dataset-config-file configs/datasets/X.yaml \\
        [--import datasets.all] [--mask-root DIR] [--method grabcut|clip|command] [--prompt T]
        [--replace] [method options] [--opts KEY VALUE ...]

See docs/make_masks.md. ``make.make_masks`` does the work; ``methods`` holds the method
interface and GrabCut, ``dense_clip`` the CLIP read-out, ``command`` external segmenters,
``records`` the record of what was written, ``prompts`` the default prompts (paper Table 9).
"""
