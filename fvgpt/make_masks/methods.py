"""The interface every mask-making method implements, and GrabCut.

A method gets a batch of ``MaskRequest`` and returns one boolean (H, W) array per request,
the size of its image (True = foreground). ``settings()`` says everything that changes its
output; it is recorded with the masks, so masks made with other settings are never taken
for this run's. A new method subclasses ``MaskMethod``, adds its options in
``add_arguments`` (prefixed with its name) and is listed in ``method_classes``
(fvgpt/make_masks/__main__.py).
"""
from collections import namedtuple

import numpy as np
from PIL import Image

# One image to segment: its path, (W, H) size, class name and filled-in text prompt.
MaskRequest = namedtuple("MaskRequest", "image_path size classname prompt")


class MakeMasksError(RuntimeError):
    """A mask cannot be made (bad option, failing segmenter, ...); the message says what to do."""


class MaskMethod:
    """A way to make foreground masks."""

    name = ""
    uses_prompt = False  # whether the text prompt changes the masks (it is then recorded)
    batch_size = 1

    @staticmethod
    def add_arguments(parser):
        """Add this method's command-line options to ``parser``."""

    @classmethod
    def from_args(cls, args):
        raise NotImplementedError

    def settings(self):
        """A JSON-able dict of everything that changes this method's masks."""
        raise NotImplementedError

    def segment(self, requests):
        """One boolean (H, W) array per request, the size of its image."""
        raise NotImplementedError


def load_rgb(path):
    """The image at ``path`` as an (H, W, 3) uint8 array."""
    with Image.open(path) as f:
        return np.asarray(f.convert("RGB"))


class GrabCut(MaskMethod):
    """OpenCV's GrabCut initialised with a centred box; no weights, no prompt.

    The box leaves ``margin`` of the width and height on each side. Pixels GrabCut labels
    foreground or probable foreground are the mask. OpenCV's random generator is reset
    before each image, so the same image gives the same mask.
    """

    name = "grabcut"

    def __init__(self, margin=0.05, iterations=5):
        if not 0 <= margin < 0.5:
            raise MakeMasksError(f"--grabcut-margin must be in [0, 0.5), got {margin}.")
        try:
            import cv2
        except ImportError:
            raise MakeMasksError("The grabcut method needs OpenCV: pip install "
                                 "opencv-python-headless (or pip install -e '.[masks]').") from None
        self.cv2, self.margin, self.iterations = cv2, margin, iterations

    @staticmethod
    def add_arguments(parser):
        group = parser.add_argument_group("grabcut")
        # 0.05 was chosen among 0.05 / 0.1 / 0.15 on FG-World's val images, whose objects lie
        # anywhere in the image (docs/make_masks.md); centred objects allow a larger margin.
        group.add_argument("--grabcut-margin", type=float, default=0.05,
                           help="share of the width/height left outside the initial box, each side")
        group.add_argument("--grabcut-iterations", type=int, default=5)

    @classmethod
    def from_args(cls, args):
        return cls(args.grabcut_margin, args.grabcut_iterations)

    def settings(self):
        return {"margin": self.margin, "iterations": self.iterations}

    def segment(self, requests):
        masks = []
        for r in requests:
            try:
                masks.append(self._one(load_rgb(r.image_path)))
            except self.cv2.error as e:
                raise MakeMasksError(f"GrabCut failed on {r.image_path} ({e}). Try another "
                                     "--grabcut-margin, or another method.") from None
        return masks

    def _one(self, rgb):
        cv2 = self.cv2
        h, w = rgb.shape[:2]
        dx, dy = int(w * self.margin), int(h * self.margin)
        state = np.zeros((h, w), np.uint8)
        background, foreground = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.setRNGSeed(0)
        cv2.grabCut(np.ascontiguousarray(rgb[:, :, ::-1]), state, (dx, dy, w - 2 * dx, h - 2 * dy),
                    background, foreground, self.iterations, cv2.GC_INIT_WITH_RECT)
        return (state == cv2.GC_FGD) | (state == cv2.GC_PR_FGD)

