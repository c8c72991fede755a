"""Installs the ``fvgpt`` library; ``trainers/``, ``datasets/`` and ``train.py`` stay in the
repository, as in CoOp, so nothing shadows other top-level packages (e.g. Hugging Face's
``datasets``)."""
from setuptools import find_packages, setup

setup(
    name="fvgpt",
    version="0.1.0",
    description="FVG-PT: foreground view-guided prompt tuning for CLIP, as Dassl trainers",
    packages=find_packages(include=["fvgpt", "fvgpt.*"]),
    package_data={"fvgpt.world": ["assets/*.pt"]},
    python_requires=">=3.9",
    install_requires=[
        "torch>=2.1",
        "torchvision",
        "clip-anytorch>=2.5",
        "packaging",  # clip imports pkg_resources.packaging; fvgpt.clip_import supplies it
        "scipy",  # StanfordCars / OxfordFlowers annotations are .mat files
        "ftfy",
        "regex",
        "yacs",
        "numpy",
        "pillow",
        "tqdm",
        "matplotlib",  # plots: sweeps.tables, the main job's d_fg.png, Grad-CAM grids
    ],
    extras_require={
        # "masks": the grabcut method of python -m fvgpt.make_masks.
        "masks": ["opencv-python-headless"],
        # "test" also brings what the real Dassl.pytorch needs to import (its requirements.txt),
        # so the real-Dassl tests can run next to the built-in engine's; and OpenCV for grabcut.
        "test": ["pytest", "tensorboard", "scikit-learn", "tabulate", "gdown", "wilds", "pandas",
                 "opencv-python-headless"],
    },
)
