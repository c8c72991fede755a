"""Foreground-mask files: where they live, how they are read, and what to do when one is bad.

Layout of the authors' released masks (JREion/FVG-PT, docs/DATASETS.md and the
mask-aware wrapper of their Dassl fork): for an image at ``ROOT/<rel>/<name>``
the mask is ``ROOT/mask/<rel>/<name>``, same relative path and file name, white
foreground on black, binarised at 0.5. The released masks are scaled so that
their shorter side is 512 px with the image's aspect ratio, and their loader
resizes each mask to its image with NEAREST (UPSTREAM_NOTES 2.2); so does ours.
"""
import os
from dataclasses import dataclass, field

from PIL import Image

MISSING_MASK_POLICIES = ("error", "full")
EMPTY_MASK_POLICIES = ("error", "keep")
CHECKER = "python -m fvgpt.check_masks"

# What fixes each kind of failure (one sentence per kind; the messages and the checker use them).
FIXES = {
    "missing": "Generate the mask (white foreground on black, the image's aspect ratio, same "
               "relative path and file name under the mask folder), point "
               "TRAINER.FVGPT.MASK_ROOT at the folder that holds the masks, or set "
               "TRAINER.FVGPT.MISSING_MASK full to treat the whole image as foreground.",
    "unreadable": "The file cannot be decoded: re-download or regenerate this mask.",
    "aspect": "The mask was made for another image (or rotated): regenerate it from this "
              "image. A mask may be scaled (the released ones have 512 px on the short side) "
              "but must keep its image's aspect ratio.",
    "image": "The image itself cannot be decoded: re-download it, or remove it from the "
             "data set's split.",
    "empty": "No pixel is above TRAINER.FVGPT.MASK_THRESHOLD: regenerate the mask (e.g. "
             "another prompt), or set TRAINER.FVGPT.EMPTY_MASK keep to train on it "
             "(A(m) = 0, the foreground view is all background).",
}


class MaskError(RuntimeError):
    """A mask file that cannot be used for training."""


class MissingMaskError(MaskError):
    """No mask file where the layout says it is."""


class UnreadableMaskError(MaskError):
    """A mask file that cannot be decoded."""


class MaskAspectError(MaskError):
    """A mask whose aspect ratio differs from its image's."""


class EmptyMaskError(MaskError):
    """A mask with no foreground pixel."""


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


def same_aspect_ratio(mask_size, image_size):
    """True when a (W, H) mask is its (W, H) image scaled, up to one pixel of rounding.

    One side of a scaled mask is set (e.g. 512 px) and the other rounded, so the
    mask's rounded side must lie within one pixel of the image's side scaled by
    the set side's factor.
    """
    (mw, mh), (iw, ih) = mask_size, image_size
    return abs(mh - ih * mw / iw) <= 1 or abs(mw - iw * mh / ih) <= 1


def read_mask(mask_path, image_path, image_size):
    """The mask as a PIL 'L' image of ``image_size`` (PIL (W, H)), and whether it was resized.

    A mask of another size but the same aspect ratio is resized with NEAREST, as the
    authors' loader does; another aspect ratio is a ``MaskAspectError``.
    """
    if not os.path.isfile(mask_path):
        raise MissingMaskError(f"Missing foreground mask {mask_path} for image {image_path}. "
                               + FIXES["missing"])
    try:
        with Image.open(mask_path) as f:
            mask = f.convert("L")
    except Exception as e:  # PIL raises several types for a damaged file
        raise UnreadableMaskError(f"Unreadable foreground mask {mask_path} ({e}). "
                                  + FIXES["unreadable"]) from None
    if mask.size == tuple(image_size):
        return mask, False
    if not same_aspect_ratio(mask.size, image_size):
        raise MaskAspectError(
            f"Foreground mask {mask_path} is {mask.size[0]}x{mask.size[1]} but its image "
            f"{image_path} is {image_size[0]}x{image_size[1]} (W x H), another aspect ratio. "
            + FIXES["aspect"]
        )
    return mask.resize(tuple(image_size), Image.NEAREST), True


def full_mask(image_size):
    """An all-foreground mask, used when MISSING_MASK is 'full'."""
    return Image.new("L", image_size, 255)


def is_empty(mask, threshold):
    """True when no pixel of the PIL mask is above the binarisation threshold."""
    return mask.getextrema()[1] / 255.0 <= threshold


def empty_mask_error(mask_path, threshold):
    """The error for an empty mask under EMPTY_MASK error."""
    return EmptyMaskError(f"Foreground mask {mask_path} is empty (no pixel above "
                          f"TRAINER.FVGPT.MASK_THRESHOLD={threshold}). " + FIXES["empty"])


@dataclass
class MaskReport:
    """What was found for the masks of a list of training images."""

    mask_root: str
    threshold: float
    n_images: int = 0
    missing: list = field(default_factory=list)            # mask paths
    unreadable: list = field(default_factory=list)         # (mask path, reason)
    wrong_aspect: list = field(default_factory=list)       # (mask path, reason)
    unreadable_images: list = field(default_factory=list)  # (image path, reason)
    empty: list = field(default_factory=list)              # mask paths
    resized: list = field(default_factory=list)            # mask paths resized to their image
    areas: list = field(default_factory=list)              # foreground fraction per usable mask

    @property
    def n_found(self):
        """Images whose mask file exists."""
        return self.n_images - len(self.missing)

    def failures(self, missing_mask="error", empty_mask="error"):
        """{kind: entries} that would stop a training run under these policies.

        Kinds are keys of ``FIXES``; entries are paths or (path, reason) pairs.
        """
        found = {"missing": self.missing if missing_mask == "error" else [],
                 "unreadable": self.unreadable,
                 "aspect": self.wrong_aspect,
                 "image": self.unreadable_images,
                 "empty": self.empty if empty_mask == "error" else []}
        return {kind: entries for kind, entries in found.items() if entries}

    def problems(self, missing_mask="error", empty_mask="error"):
        """Why a training run with these policies would stop (empty when it would not)."""
        return [f"{len(v)} {KIND_NAMES[k]}" for k, v in self.failures(missing_mask, empty_mask).items()]

    def failure_text(self, missing_mask="error", empty_mask="error", max_listed=3):
        """Each failing kind with its count, first paths and its own fix; "" when none."""
        lines = []
        for kind, entries in self.failures(missing_mask, empty_mask).items():
            paths = [e if isinstance(e, str) else e[0] for e in entries[:max_listed]]
            lines.append(f"  {KIND_NAMES[kind]}: {len(entries)}, e.g. {', '.join(paths)}\n"
                         f"    fix: {FIXES[kind]}")
        return "\n".join(lines)


KIND_NAMES = {"missing": "missing mask(s)", "unreadable": "unreadable mask(s)",
              "aspect": "mask(s) with another aspect ratio than their image",
              "image": "unreadable image(s)", "empty": "empty mask(s)"}


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
            mask, resized = read_mask(mask_path, impath, size)
        except MaskAspectError as e:
            report.wrong_aspect.append((mask_path, str(e)))
            continue
        except UnreadableMaskError as e:
            report.unreadable.append((mask_path, str(e)))
            continue
        if resized:
            report.resized.append(mask_path)
        if is_empty(mask, threshold):
            report.empty.append(mask_path)
        on = sum(mask.histogram()[int(threshold * 255) + 1:])  # pixels with value/255 > threshold
        report.areas.append(on / (size[0] * size[1]))
    return report
