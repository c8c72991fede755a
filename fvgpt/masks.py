"""Foreground-mask files: where they live, how they are read, and what to do when one is bad.

Layout of the authors' released masks (JREion/FVG-PT, docs/DATASETS.md and the
mask-aware wrapper of their Dassl fork): for an image at ``ROOT/<rel>/<name>``
the mask is ``ROOT/mask/<rel>/<name>``, same relative path and file name, white
foreground on black, binarised at 0.5. The released masks are scaled so that
their shorter side is 512 px with the image's aspect ratio, and their loader
resizes each mask to its image with NEAREST (UPSTREAM_NOTES 2.2); so does ours.
White on black is read from 8-bit grey, RGB and RGBA (opaque), 1-bit and 16-bit grey files;
other encodings (foreground in alpha, 0/1 label maps, colour or palette labels) stop with
what was found and how to convert it (docs/masks.md).
"""
import glob
import os
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
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
    "encoding": "The mask is not white foreground on black: convert it as its message says "
                "(docs/masks.md shows the conversion for each encoding).",
    "extension": "Masks of these names exist with another file extension than their images: "
                 "set TRAINER.FVGPT.MASK_EXT to theirs (e.g. .png), or rename them.",
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


class MaskEncodingError(MaskError):
    """A mask file whose pixels are not white foreground on black (e.g. a label map)."""


class EmptyMaskError(MaskError):
    """A mask with no foreground pixel."""


def mask_path_for(impath, root, mask_root="", mask_ext=""):
    """Mask path of ``impath``: ``<mask_root or ROOT/mask>/<path relative to ROOT>``, its
    extension replaced by ``mask_ext`` (TRAINER.FVGPT.MASK_EXT, e.g. ``.png``) when given."""
    root = os.path.abspath(os.path.expanduser(root))
    rel = os.path.relpath(os.path.abspath(os.path.expanduser(impath)), root)
    if rel.startswith(os.pardir):
        raise MaskError(
            f"Image {impath} is not inside DATASET.ROOT={root}, so its mask path "
            "ROOT/mask/<relative path> is undefined. Set --root to the folder that "
            "holds both the images and the 'mask' folder."
        )
    if mask_ext:
        rel = os.path.splitext(rel)[0] + mask_ext
    return os.path.join(os.path.expanduser(mask_root) if mask_root else os.path.join(root, "mask"), rel)


def other_extension(mask_path):
    """A file named as ``mask_path`` but with another extension (e.g. a .png mask for a .jpg
    image), or None."""
    stem = os.path.splitext(mask_path)[0]
    found = sorted(p for p in glob.glob(glob.escape(stem) + ".*")
                   if os.path.splitext(p)[0] == stem and p != mask_path)
    return found[0] if found else None


def missing_mask_message(mask_path, image_path):
    other = other_extension(mask_path)
    if other:
        return (f"Missing foreground mask {mask_path} for image {image_path}, but {other} exists: "
                f"set TRAINER.FVGPT.MASK_EXT {os.path.splitext(other)[1]} to read the masks "
                "with that extension (check_masks: --mask-ext), or rename them.")
    return f"Missing foreground mask {mask_path} for image {image_path}. " + FIXES["missing"]


SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")

# How to convert each encoding that is refused, in Python with PIL and numpy (docs/masks.md).
CONVERSIONS = {
    "alpha": "keep the alpha channel as the mask: Image.open(p).getchannel('A').save(p)",
    "label": "scale the labels to 0/255: Image.fromarray((np.array(Image.open(p)) > 0)"
             ".astype(np.uint8) * 255).save(p)",
    "colour": "decide which colours or palette indices are foreground and write them white, "
              "all else black, as an 8-bit grey PNG (docs/masks.md, 'Colour and palette labels')",
    "mode": "save it as an 8-bit grey ('L') PNG, white foreground on black",
}


def _colours(rgb, limit=4):
    """Up to ``limit`` of the distinct (R, G, B) colours of an H x W x 3 array, as text."""
    packed = np.unique((rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8)
                       | rgb[..., 2])
    shown = [f"({c >> 16}, {(c >> 8) & 255}, {c & 255})" for c in packed[:limit]]
    return ", ".join(shown) + (f" and {len(packed) - limit} more" if len(packed) > limit else "")


def decode_mask(img):
    """A mask file's pixels as a PIL 'L' image (0..255) and the encoding found, e.g. 'RGBA
    (opaque)'; ``MaskEncodingError`` (what was found, how to convert) for another encoding."""
    mode = img.mode
    if mode in SIXTEEN_BIT_MODES:
        values = np.asarray(img).astype(np.int64)
        top = int(values.max())
        if top == 1:
            raise MaskEncodingError(f"a 16-bit ({mode}) label map with values 0 and 1 only; "
                                    + CONVERSIONS["label"])
        if top > 65535 or values.min() < 0 or 1 < top <= 255:
            raise MaskEncodingError(f"{mode} values from {values.min()} to {top}, not a 16-bit "
                                    "grey range (0 black, 65535 white); " + CONVERSIONS["mode"])
        grey = Image.fromarray(np.round(values * (255 / 65535)).astype(np.uint8), "L")
        return _check_labels(grey, f"16-bit grey ({mode})")
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info)
    encoding = mode
    if has_alpha:
        rgba = np.asarray(img.convert("RGBA"))
        alpha = rgba[..., 3]
        if alpha.min() < 255:
            colour = rgba[..., :3].reshape(-1, 3)
            if (colour == colour[0]).all():
                raise MaskEncodingError(
                    f"{mode} with every pixel the colour {tuple(int(c) for c in colour[0])} and "
                    f"the foreground only in the alpha channel (alpha {alpha.min()} to "
                    f"{alpha.max()}); " + CONVERSIONS["alpha"])
            raise MaskEncodingError(f"{mode} with transparent pixels (alpha {alpha.min()} to 255) "
                                    "and colours that vary: it is unclear which carries the "
                                    "foreground; " + CONVERSIONS["mode"])
        encoding = f"{mode} (opaque)"
        img = img.convert("L" if mode in ("LA", "La") else "RGB")
    if img.mode == "P":
        img = img.convert("RGB")
        encoding = "P (palette)"
    if img.mode == "RGB":
        rgb = np.asarray(img)
        if not ((rgb[..., 0] == rgb[..., 1]) & (rgb[..., 1] == rgb[..., 2])).all():
            raise MaskEncodingError(f"{encoding} with colours {_colours(rgb)}, a colour label "
                                    "image, not white on black; " + CONVERSIONS["colour"])
        return _check_labels(img.convert("L"), encoding if has_alpha or encoding != "RGB" else "RGB (grey)")
    if img.mode in ("L", "1"):
        return _check_labels(img.convert("L"), encoding)
    raise MaskEncodingError(f"image mode {mode}, not a mask encoding; " + CONVERSIONS["mode"])


def _check_labels(grey, encoding):
    """``grey`` and ``encoding``, unless the values are 0 and 1 only (a label map)."""
    if grey.getextrema() == (0, 1):
        raise MaskEncodingError(f"{encoding} label map with values 0 and 1 only (read as 0/255 "
                                "it would be empty); " + CONVERSIONS["label"])
    return grey, encoding


EXIF_ORIENTATION = 0x0112
# exif orientation -> the PIL transpose that takes a mask drawn on the displayed (rotated)
# image back to the stored pixels (the inverse of PIL.ImageOps.exif_transpose's step).
UNDO_ORIENTATION = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE",
                    6: "ROTATE_90", 7: "TRANSVERSE", 8: "ROTATE_270"}


def exif_orientation(image_path):
    """The image's EXIF orientation tag (1 = as stored, also when it has none)."""
    try:
        with Image.open(image_path) as f:
            return int(f.getexif().get(EXIF_ORIENTATION, 1))
    except Exception:  # no readable EXIF: the pixels are shown as stored
        return 1


def aspect_error(mask_path, mask_size, image_path, image_size):
    text = (f"Foreground mask {mask_path} is {mask_size[0]}x{mask_size[1]} but its image "
            f"{image_path} is {image_size[0]}x{image_size[1]} (W x H), another aspect ratio. ")
    orientation = exif_orientation(image_path)
    if orientation in UNDO_ORIENTATION:
        return MaskAspectError(
            text + f"The image carries EXIF orientation {orientation}: viewers (and tools that "
            "apply EXIF) show it rotated or flipped, while training reads its stored pixels as "
            "they are. If the mask was made from the displayed image, turn it back: "
            f"Image.open(mask).transpose(Image.Transpose.{UNDO_ORIENTATION[orientation]})"
            ".save(mask); or make the mask from the stored pixels (Image.open without "
            "ImageOps.exif_transpose).")
    return MaskAspectError(text + FIXES["aspect"])


def same_aspect_ratio(mask_size, image_size):
    """True when a (W, H) mask is its (W, H) image scaled, up to one pixel of rounding.

    One side of a scaled mask is set (e.g. 512 px) and the other rounded, so the
    mask's rounded side must lie within one pixel of the image's side scaled by
    the set side's factor.
    """
    (mw, mh), (iw, ih) = mask_size, image_size
    return abs(mh - ih * mw / iw) <= 1 or abs(mw - iw * mh / ih) <= 1


def read_mask(mask_path, image_path, image_size, with_encoding=False):
    """The mask as a PIL 'L' image of ``image_size`` (PIL (W, H)), and whether it was resized
    (and, ``with_encoding``, the encoding found; see ``decode_mask``).

    A mask of another size but the same aspect ratio is resized with NEAREST, as the
    authors' loader does; another aspect ratio is a ``MaskAspectError``.
    """
    if not os.path.isfile(mask_path):
        raise MissingMaskError(missing_mask_message(mask_path, image_path))
    try:
        with Image.open(mask_path) as f:
            f.load()
            opened = f.copy()
    except Exception as e:  # PIL raises several types for a damaged file
        raise UnreadableMaskError(f"Unreadable foreground mask {mask_path} ({e}). "
                                  + FIXES["unreadable"]) from None
    try:
        mask, encoding = decode_mask(opened)
    except MaskEncodingError as e:
        raise MaskEncodingError(f"Foreground mask {mask_path} is not white foreground on black: "
                                f"found {e}. See docs/masks.md.") from None
    if mask.size != tuple(image_size):
        if not same_aspect_ratio(mask.size, image_size):
            raise aspect_error(mask_path, mask.size, image_path, image_size)
        mask = mask.resize(tuple(image_size), Image.NEAREST)
    resized = mask.size != opened.size
    return (mask, resized, encoding) if with_encoding else (mask, resized)


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
    other_extension: list = field(default_factory=list)    # (missing mask path, message)
    wrong_encoding: list = field(default_factory=list)     # (mask path, reason)
    unreadable: list = field(default_factory=list)         # (mask path, reason)
    wrong_aspect: list = field(default_factory=list)       # (mask path, reason)
    unreadable_images: list = field(default_factory=list)  # (image path, reason)
    empty: list = field(default_factory=list)              # mask paths
    resized: list = field(default_factory=list)            # mask paths resized to their image
    areas: list = field(default_factory=list)              # foreground fraction per usable mask
    encodings: Counter = field(default_factory=Counter)    # encoding found -> number of masks

    @property
    def n_found(self):
        """Images whose mask file exists."""
        return self.n_images - len(self.missing) - len(self.other_extension)

    def failures(self, missing_mask="error", empty_mask="error"):
        """{kind: entries} that would stop a training run under these policies.

        Kinds are keys of ``FIXES``; entries are paths or (path, reason) pairs.
        """
        found = {"extension": self.other_extension,
                 "missing": self.missing if missing_mask == "error" else [],
                 "unreadable": self.unreadable,
                 "encoding": self.wrong_encoding,
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
              "extension": "mask(s) found only with another extension than their image",
              "encoding": "mask(s) not white foreground on black",
              "aspect": "mask(s) with another aspect ratio than their image",
              "image": "unreadable image(s)", "empty": "empty mask(s)"}


def decoded_size(impath):
    """(W, H) of an image after decoding it fully, as the data loader will."""
    with Image.open(impath) as f:
        f.load()
        return f.size


def audit_masks(impaths, root, mask_root="", threshold=0.5, mask_ext=""):
    """Open the mask of every image in ``impaths`` and sort the problems into a MaskReport."""
    root = os.path.expanduser(root)
    report = MaskReport(mask_root=mask_root or os.path.join(os.path.abspath(root), "mask"),
                        threshold=threshold)
    for impath in impaths:
        report.n_images += 1
        mask_path = mask_path_for(impath, root, mask_root, mask_ext)
        has_mask = os.path.isfile(mask_path)
        if not has_mask:
            if other_extension(mask_path):
                report.other_extension.append((mask_path, missing_mask_message(mask_path, impath)))
            else:
                report.missing.append(mask_path)
        try:
            size = decoded_size(impath)
        except Exception as e:  # PIL raises several types for a damaged file
            report.unreadable_images.append((impath, f"{type(e).__name__}: {e}"))
            continue
        if not has_mask:
            continue
        try:
            mask, resized, encoding = read_mask(mask_path, impath, size, with_encoding=True)
        except MaskAspectError as e:
            report.wrong_aspect.append((mask_path, str(e)))
            continue
        except UnreadableMaskError as e:
            report.unreadable.append((mask_path, str(e)))
            continue
        except MaskEncodingError as e:
            report.wrong_encoding.append((mask_path, str(e)))
            continue
        report.encodings[encoding] += 1
        if resized:
            report.resized.append(mask_path)
        if is_empty(mask, threshold):
            report.empty.append(mask_path)
        on = sum(mask.histogram()[int(threshold * 255) + 1:])  # pixels with value/255 > threshold
        report.areas.append(on / (size[0] * size[1]))
    return report
