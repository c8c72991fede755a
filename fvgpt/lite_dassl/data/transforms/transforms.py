"""Image transforms built from ``cfg.INPUT`` (the subset of Dassl's choices CoOp-family configs use).

Semantics follow dassl/data/transforms/transforms.py:
train = [resize to INPUT.SIZE unless a random crop sets the size] + chosen augmentations
+ ToTensor + [normalize]; test = resize the shorter side to max(INPUT.SIZE) + center
crop to INPUT.SIZE + ToTensor + [normalize].
"""
import random

import torchvision.transforms.functional as F
from torchvision.transforms import (
    CenterCrop,
    Compose,
    InterpolationMode,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    RandomResizedCrop,
    Resize,
    ToTensor,
)

__all__ = ["AVAI_CHOICES", "INTERPOLATION_MODES", "Random2DTranslation", "build_transform"]

AVAI_CHOICES = [
    "random_flip",
    "random_resized_crop",
    "normalize",
    "random_crop",
    "random_translation",
    "center_crop",  # accepted for compatibility: test transforms always center-crop
]

INTERPOLATION_MODES = {
    "bilinear": InterpolationMode.BILINEAR,
    "bicubic": InterpolationMode.BICUBIC,
    "nearest": InterpolationMode.NEAREST,
}


class Random2DTranslation:
    """Resize to (height, width); with probability ``p`` instead enlarge to 1.125x that size
    and randomly crop (height, width) out of it."""

    def __init__(self, height, width, p=0.5, interpolation=InterpolationMode.BILINEAR):
        self.height = height
        self.width = width
        self.p = p
        self.interpolation = interpolation

    def __call__(self, img):
        if random.uniform(0, 1) > self.p:
            return F.resize(img, [self.height, self.width], interpolation=self.interpolation)
        big_h = int(round(self.height * 1.125))
        big_w = int(round(self.width * 1.125))
        img = F.resize(img, [big_h, big_w], interpolation=self.interpolation)
        top = int(round(random.uniform(0, big_h - self.height)))
        left = int(round(random.uniform(0, big_w - self.width)))
        return F.crop(img, top, left, self.height, self.width)


def _check_choices(choices):
    for choice in choices:
        if choice not in AVAI_CHOICES:
            raise ValueError(
                f'Transform "{choice}" in INPUT.TRANSFORMS is not supported by fvgpt\'s built-in '
                f"Dassl engine (supported: {AVAI_CHOICES}); install Dassl for its other transforms"
            )


def build_transform(cfg, is_train=True, choices=None):
    """Compose the train or test transform; ``choices`` overrides ``cfg.INPUT.TRANSFORMS``.

    Returns None when ``cfg.INPUT.NO_TRANSFORM`` is set.
    """
    if cfg.INPUT.NO_TRANSFORM:
        print("Note: no transform is applied!")
        return None
    if choices is None:
        choices = cfg.INPUT.TRANSFORMS
    _check_choices(choices)

    normalize = Normalize(mean=cfg.INPUT.PIXEL_MEAN, std=cfg.INPUT.PIXEL_STD)
    build = _build_transform_train if is_train else _build_transform_test
    return build(cfg, choices, normalize)


def _build_transform_train(cfg, choices, normalize):
    print("Building transform_train")
    interp_mode = INTERPOLATION_MODES[cfg.INPUT.INTERPOLATION]
    input_size = cfg.INPUT.SIZE
    tfms = []

    if "random_crop" not in choices and "random_resized_crop" not in choices:
        print(f"+ resize to {input_size[0]}x{input_size[1]}")
        tfms.append(Resize(input_size, interpolation=interp_mode))

    if "random_translation" in choices:
        print("+ random translation")
        tfms.append(Random2DTranslation(input_size[0], input_size[1]))

    if "random_crop" in choices:
        print(f"+ random crop (padding = {cfg.INPUT.CROP_PADDING})")
        tfms.append(RandomCrop(input_size, padding=cfg.INPUT.CROP_PADDING))

    if "random_resized_crop" in choices:
        scale = cfg.INPUT.RRCROP_SCALE
        print(f"+ random resized crop (size={input_size}, scale={scale})")
        tfms.append(RandomResizedCrop(input_size, scale=scale, interpolation=interp_mode))

    if "random_flip" in choices:
        print("+ random flip")
        tfms.append(RandomHorizontalFlip())

    print("+ to torch tensor of range [0, 1]")
    tfms.append(ToTensor())

    if "normalize" in choices:
        print(f"+ normalization (mean={cfg.INPUT.PIXEL_MEAN}, std={cfg.INPUT.PIXEL_STD})")
        tfms.append(normalize)

    return Compose(tfms)


def _build_transform_test(cfg, choices, normalize):
    print("Building transform_test")
    interp_mode = INTERPOLATION_MODES[cfg.INPUT.INTERPOLATION]
    input_size = cfg.INPUT.SIZE

    print(f"+ resize the smaller edge to {max(input_size)}")
    print(f"+ {input_size[0]}x{input_size[1]} center crop")
    print("+ to torch tensor of range [0, 1]")
    tfms = [Resize(max(input_size), interpolation=interp_mode), CenterCrop(input_size), ToTensor()]

    if "normalize" in choices:
        print(f"+ normalization (mean={cfg.INPUT.PIXEL_MEAN}, std={cfg.INPUT.PIXEL_STD})")
        tfms.append(normalize)

    return Compose(tfms)
