"""Foreground-mask files: where they live and how they are read.

Layout of the authors' released masks (JREion/FVG-PT, docs/DATASETS.md and the
mask-aware wrapper of their Dassl fork): for an image at ``ROOT/<rel>/<name>``
the mask is ``ROOT/mask/<rel>/<name>``, same relative path and file name, white
foreground on black, binarised at 0.5.
"""
import os

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
    root = os.path.abspath(root)
    rel = os.path.relpath(os.path.abspath(impath), root)
    if rel.startswith(os.pardir):
        raise MaskError(
            f"Image {impath} is not inside DATASET.ROOT={root}, so its mask path "
            "ROOT/mask/<relative path> is undefined. Set --root to the folder that "
            "holds both the images and the 'mask' folder."
        )
    return os.path.join(mask_root or os.path.join(root, "mask"), rel)


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


def audit_masks(impaths, root, mask_root="", threshold=0.5):
    """Check every image's mask; returns a dict of lists of problem paths and the areas.

    Keys: ``ok``, ``missing``, ``unreadable``, ``size_mismatch``, ``empty`` (mask
    paths) and ``areas`` (foreground fraction of each readable, well-sized mask).
    """
    report = {k: [] for k in ("ok", "missing", "unreadable", "size_mismatch", "empty", "areas")}
    for impath in impaths:
        mask_path = mask_path_for(impath, root, mask_root)
        if not os.path.isfile(mask_path):
            report["missing"].append(mask_path)
            continue
        try:
            with Image.open(impath) as img:
                image_size = img.size
            mask = read_mask(mask_path, impath, image_size)
        except MaskSizeError:
            report["size_mismatch"].append(mask_path)
            continue
        except (UnreadableMaskError, OSError):  # OSError: the image itself is unreadable
            report["unreadable"].append(mask_path)
            continue
        on = sum(mask.histogram()[int(threshold * 255) + 1:])  # pixels with value/255 > threshold
        report["areas"].append(on / (mask.size[0] * mask.size[1]))
        report["empty" if on == 0 else "ok"].append(mask_path)
    return report
