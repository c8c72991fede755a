"""The one mask-aware data path: image, foreground view and mask under one random geometry.

It plugs into Dassl through ``DataManager(cfg, dataset_wrapper=MaskedDatasetWrapper)``,
so real Dassl needs no patch. A training item gains ``img_fg`` (x * m) and ``mask``
(1 x H x W in {0, 1}). ``TRAINER.FVGPT.FG_FILL`` says where the zeros go (spec, "Foreground
mask"): ``mean`` multiplies the *normalised* image by m, so the background becomes CLIP's
mean colour (the authors' loader hands the trainer the normalised image and the mask);
``black`` multiplies before normalisation. ``MaskedImageDatasetWrapper`` adds the generic
explanation of a missing or damaged image (``fvgpt.images``).
"""
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as TF
from torchvision.transforms import InterpolationMode

from dassl.data.data_manager import DatasetWrapper
from dassl.utils import read_image

from .images import ExplainImageErrors
from .masks import (MissingMaskError, empty_mask_error, full_mask, is_empty, mask_path_for,
                    other_extension, read_mask)

FG_FILLS = ("mean", "black")

# Dassl transform names that act on geometry (applied to both) or on values.
JOINT_TRANSFORMS = ("random_resized_crop", "random_crop", "random_flip", "center_crop", "normalize")
# INPUT.INTERPOLATION names, as Dassl maps them (dassl/data/transforms/transforms.py); defined
# here because Dassl forks differ in what ``dassl.data.transforms`` exports (htyao89/KgCoOp's
# Dassl.ProGrad.pytorch does not export INTERPOLATION_MODES).
INTERPOLATION_MODES = {"bilinear": InterpolationMode.BILINEAR, "bicubic": InterpolationMode.BICUBIC,
                       "nearest": InterpolationMode.NEAREST}
# RandomResizedCrop's scale range where the config has no INPUT.RRCROP_SCALE: Dassl forks from
# before that key (Dassl.ProGrad.pytorch) crop with torchvision's default, which this is.
DEFAULT_RRCROP_SCALE = (0.08, 1.0)


class JointTransform:
    """Dassl's train / test geometry (dassl/data/transforms/transforms.py), shared by image and mask."""

    def __init__(self, cfg, is_train):
        unsupported = [t for t in cfg.INPUT.TRANSFORMS if t not in JOINT_TRANSFORMS]
        if unsupported:
            raise ValueError(
                f"INPUT.TRANSFORMS {unsupported} cannot be applied to an image and its mask "
                f"together; FVG-PT supports {list(JOINT_TRANSFORMS)}."
            )
        self.choices = cfg.INPUT.TRANSFORMS
        self.is_train = is_train
        self.size = list(cfg.INPUT.SIZE)
        if cfg.INPUT.INTERPOLATION not in INTERPOLATION_MODES:
            raise ValueError(f"INPUT.INTERPOLATION must be one of {list(INTERPOLATION_MODES)}, "
                             f"got {cfg.INPUT.INTERPOLATION!r}")
        self.interpolation = INTERPOLATION_MODES[cfg.INPUT.INTERPOLATION]
        self.rrcrop_scale = tuple(cfg.INPUT.get("RRCROP_SCALE", DEFAULT_RRCROP_SCALE))
        self.crop_padding = cfg.INPUT.CROP_PADDING
        self.normalize = T.Normalize(cfg.INPUT.PIXEL_MEAN, cfg.INPUT.PIXEL_STD)

    def _both(self, fn, img, mask, *args):
        return (fn(img, *args, interpolation=self.interpolation),
                fn(mask, *args, interpolation=InterpolationMode.NEAREST))

    def geometry(self, img, mask):
        """Apply the same random geometry to the PIL image and mask."""
        if not self.is_train:
            img, mask = self._both(TF.resize, img, mask, max(self.size))
            return TF.center_crop(img, self.size), TF.center_crop(mask, self.size)
        if "random_crop" not in self.choices and "random_resized_crop" not in self.choices:
            img, mask = self._both(TF.resize, img, mask, self.size)
        if "random_crop" in self.choices:
            img, mask = TF.pad(img, self.crop_padding), TF.pad(mask, self.crop_padding)
            i, j, h, w = T.RandomCrop.get_params(img, self.size)
            img, mask = TF.crop(img, i, j, h, w), TF.crop(mask, i, j, h, w)
        if "random_resized_crop" in self.choices:
            i, j, h, w = T.RandomResizedCrop.get_params(img, self.rrcrop_scale, (3 / 4, 4 / 3))
            img, mask = self._both(TF.resized_crop, img, mask, i, j, h, w, self.size)
        if "random_flip" in self.choices and torch.rand(1).item() < 0.5:
            img, mask = TF.hflip(img), TF.hflip(mask)
        if "center_crop" in self.choices:
            img, mask = TF.center_crop(img, self.size), TF.center_crop(mask, self.size)
        return img, mask

    def __call__(self, img, mask, threshold, fg_fill="mean"):
        """Returns (image, foreground view, binary mask) as tensors (``fg_fill``: FG_FILLS)."""
        img, mask = self.geometry(img, mask)
        image = TF.to_tensor(img)
        binary = (TF.to_tensor(mask) > threshold).float()
        normalise = self.normalize if "normalize" in self.choices else (lambda x: x)
        if fg_fill == "black":
            return normalise(image), normalise(image * binary), binary
        image = normalise(image)
        return image, image * binary, binary


class MaskedDatasetWrapper(DatasetWrapper):
    """Dassl's ``DatasetWrapper`` that also yields the foreground view on training items."""

    with_masks_at_test = False

    def __init__(self, cfg, data_source, transform=None, is_train=False):
        super().__init__(cfg, data_source, transform=transform, is_train=is_train)
        self.uses_masks = is_train or self.with_masks_at_test
        if not self.uses_masks:
            return
        if cfg.DATALOADER.K_TRANSFORMS != 1 or cfg.DATALOADER.RETURN_IMG0:
            raise ValueError("FVG-PT's mask-aware loader needs DATALOADER.K_TRANSFORMS 1 and "
                             "DATALOADER.RETURN_IMG0 False.")
        fvgpt = cfg.TRAINER.FVGPT
        self.root, self.mask_root, self.mask_ext = cfg.DATASET.ROOT, fvgpt.MASK_ROOT, fvgpt.MASK_EXT
        self.threshold, self.fg_fill = fvgpt.MASK_THRESHOLD, fvgpt.FG_FILL
        self.missing_policy, self.empty_policy = fvgpt.MISSING_MASK, fvgpt.EMPTY_MASK
        self.joint_transform = JointTransform(cfg, is_train)

    def load_mask(self, impath, image_size):
        """The item's mask as a PIL image of the image's size, under the MISSING_MASK /
        EMPTY_MASK policies. Returns (mask, substituted) where ``substituted`` says a full
        mask stood in.
        """
        mask_path = mask_path_for(impath, self.root, self.mask_root, self.mask_ext)
        try:
            mask, _ = read_mask(mask_path, impath, image_size)
        except MissingMaskError:
            if self.missing_policy == "full" and not other_extension(mask_path):
                return full_mask(image_size), True
            raise
        if self.empty_policy == "error" and is_empty(mask, self.threshold):
            raise empty_mask_error(mask_path, self.threshold)
        return mask, False

    def __getitem__(self, idx):
        if not self.uses_masks:
            return super().__getitem__(idx)
        item = self.data_source[idx]
        img = read_image(item.impath)
        mask, substituted = self.load_mask(item.impath, img.size)
        image, image_fg, binary = self.joint_transform(img, mask, self.threshold, self.fg_fill)
        return {"img": image, "img_fg": image_fg, "mask": binary, "mask_substituted": substituted,
                "label": item.label, "domain": item.domain, "impath": item.impath, "index": idx}


class MaskedImageDatasetWrapper(ExplainImageErrors, MaskedDatasetWrapper):
    """``MaskedDatasetWrapper`` with image errors explained (FVG-PT's training loader)."""


class ForegroundEvalWrapper(MaskedDatasetWrapper):
    """Test-time loader with foreground views, for the foreground shift index D_fg."""

    with_masks_at_test = True
