"""Foreground-mask files: where they live and how they are read.

Layout of the authors' released masks (JREion/FVG-PT, docs/DATASETS.md and the
mask-aware wrapper of their Dassl fork): for an image at ``ROOT/<rel>/<name>``
the mask is ``ROOT/mask/<rel>/<name>``, same relative path and file name, white
foreground on black, binarised at 0.5.
"""
import os
from dataclasses import dataclass, field

from PIL import Image

MISSING_MASK_POLICIES = ("error", "full")
EMPTY_MASK_POLICIES = ("error", "keep")


class MaskError(RuntimeError):
    """A mask file that cannot be used for training."""


class MissingMaskError(MaskError):
    """No mask file where the layout says it is."""


class UnreadableMaskError(MaskError):
    """A mask file that cannot be decoded."""


class MaskSizeError(MaskError):
    """A mask whose size differs from its image."""


def mask_path_for(impath, root, mask_root=""):
    """Mask path of ``impath``: ``<mask_root or ROOT/mask>/<path relative to ROOT>``."""
    root = os.path.abspath(os.path.expanduser(root))
    rel = os.path.relpath(os.path.abspath(os.path.expanduser(impath)), root)
    if rel.startswith(os.pardir):
        raise MaskError(
            f"Image {impath} is not inside DATASET.ROOT={root}, so its mask path "
            "ROOT/mask/<relative path> is undefined. Set --root to the folder that "
            "holds both the images and the 'mask' folder."
        )
    return os.path.join(os.path.expanduser(mask_root) if mask_root else os.path.join(root, "mask"), rel)


def read_mask(mask_path, image_path, image_size):
    """Read a mask as a PIL 'L' image and check it fits its image (PIL (W, H) size)."""
    if not os.path.isfile(mask_path):
        raise MissingMaskError(
            f"Missing foreground mask {mask_path} for image {image_path}. Generate it "
            "(white foreground on black, same size and file name as the image), or set "
            "TRAINER.FVGPT.MISSING_MASK full to treat the whole image as foreground."
        )
    try:
        with Image.open(mask_path) as f:
            mask = f.convert("L")
    except Exception as e:  # PIL raises several types for a damaged file
        raise UnreadableMaskError(f"Unreadable foreground mask {mask_path} ({e}). "
                        "Regenerate or replace this file.") from None
    if mask.size != image_size:
        raise MaskSizeError(
            f"Foreground mask {mask_path} is {mask.size[0]}x{mask.size[1]} but its image "
            f"{image_path} is {image_size[0]}x{image_size[1]} (W x H). Masks must have "
            "the size of their image: regenerate the mask for this image."
        )
    return mask


def full_mask(image_size):
    """An all-foreground mask, used when MISSING_MASK is 'full'."""
    return Image.new("L", image_size, 255)


def is_empty(mask, threshold):
    """True when no pixel of the PIL mask is above the binarisation threshold."""
    return mask.getextrema()[1] / 255.0 <= threshold


@dataclass
class MaskReport:
    """What was found for the masks of a list of training images."""

    mask_root: str
    threshold: float
    n_images: int = 0
    missing: list = field(default_factory=list)            # mask paths
    unreadable: list = field(default_factory=list)         # (mask path, reason)
    wrong_size: list = field(default_factory=list)         # (mask path, reason)
    unreadable_images: list = field(default_factory=list)  # (image path, reason)
    empty: list = field(default_factory=list)              # mask paths
    areas: list = field(default_factory=list)              # foreground fraction per usable mask

    @property
    def n_found(self):
        """Images whose mask file exists."""
        return self.n_images - len(self.missing)

    def failures(self, missing_mask="error", empty_mask="error"):
        """{kind: entries} that would stop a training run under these policies."""
        found = {"missing mask(s)": self.missing if missing_mask == "error" else [],
                 "unreadable mask(s)": self.unreadable,
                 "mask(s) of another size than their image": self.wrong_size,
                 "unreadable image(s)": self.unreadable_images,
                 "empty mask(s)": self.empty if empty_mask == "error" else []}
        return {kind: entries for kind, entries in found.items() if entries}

    def problems(self, missing_mask="error", empty_mask="error"):
        """Why a training run with these policies would stop (empty when it would not)."""
        return [f"{len(v)} {k}" for k, v in self.failures(missing_mask, empty_mask).items()]


def decoded_size(impath):
    """(W, H) of an image after decoding it fully, as the data loader will."""
    with Image.open(impath) as f:
        f.load()
        return f.size


def audit_masks(impaths, root, mask_root="", threshold=0.5):
    """Open the mask of every image in ``impaths`` and sort the problems into a MaskReport."""
    root = os.path.expanduser(root)
    report = MaskReport(mask_root=mask_root or os.path.join(os.path.abspath(root), "mask"),
                        threshold=threshold)
    for impath in impaths:
        report.n_images += 1
        mask_path = mask_path_for(impath, root, mask_root)
        has_mask = os.path.isfile(mask_path)
        if not has_mask:
            report.missing.append(mask_path)
        try:
            size = decoded_size(impath)
        except Exception as e:  # PIL raises several types for a damaged file
            report.unreadable_images.append((impath, f"{type(e).__name__}: {e}"))
            continue
        if not has_mask:
            continue
        try:
            mask = read_mask(mask_path, impath, size)
        except MaskSizeError as e:
            report.wrong_size.append((mask_path, str(e)))
            continue
        except UnreadableMaskError as e:
            report.unreadable.append((mask_path, str(e)))
            continue
        if is_empty(mask, threshold):
            report.empty.append(mask_path)
        on = sum(mask.histogram()[int(threshold * 255) + 1:])  # pixels with value/255 > threshold
        report.areas.append(on / (size[0] * size[1]))
    return report
