"""An external segmenter (SEEM, SAM, CLIPSeg, rembg, ...) run by a command or a Python function.

Three ways to call it:

* ``--command TEMPLATE`` with ``{image}`` and ``{mask}``: run once per image. The segmenter
  reads ``{image}`` and writes its mask (any image file PIL reads; white or any value above
  127 = foreground) to ``{mask}``. ``{prompt}`` and ``{classname}`` are also filled in.
  Example: ``--command "rembg i {image} {mask}"``.
* ``--command TEMPLATE`` with ``{list}``: run once per batch of ``--batch-size`` images.
  ``{list}`` is a UTF-8 text file with one line per image, ``image path<TAB>mask path<TAB>
  prompt<TAB>class name``; the segmenter writes each listed mask.
* ``--entry-point module:function``: ``function(image_paths, prompts)`` returns one mask per
  image (a 2-D array, or a PIL image; nonzero / above 127 = foreground), in batches of
  ``--batch-size``. ``module`` is imported like ``--import`` modules.

The template is split like a shell line (quotes group words) but no shell runs it; each
placeholder is replaced inside its word, so paths with spaces stay one argument. Masks of
another size than their image are resized (NEAREST) when they keep its aspect ratio.
The segmenter writes into a temporary folder; make_masks writes the final mask files.
"""
import importlib
import os
import shlex
import subprocess
import tempfile

import numpy as np
from PIL import Image

from ..masks import same_aspect_ratio
from .methods import MakeMasksError, MaskMethod

PER_IMAGE = ("{image}", "{mask}")
PLACEHOLDERS = ("{image}", "{mask}", "{prompt}", "{classname}", "{list}")


class Command(MaskMethod):
    """Masks from a user's segmenter (module docstring)."""

    name = "command"
    uses_prompt = True

    def __init__(self, command="", entry_point="", batch_size=0):
        if bool(command) == bool(entry_point):
            raise MakeMasksError("The command method needs exactly one of --command TEMPLATE "
                                 "and --entry-point module:function.")
        self.command, self.entry_point = command, entry_point
        if command:
            self.argv = shlex.split(command)
            self.per_batch = any("{list}" in word for word in self.argv)
            if not self.per_batch and not all(any(p in w for w in self.argv) for p in PER_IMAGE):
                raise MakeMasksError(f"--command {command!r} needs {{image}} and {{mask}} (one "
                                     "run per image) or {list} (one run per batch).")
            self.batch_size = (batch_size or 64) if self.per_batch else 1
        else:
            self.function = load_entry_point(entry_point)
            self.batch_size = batch_size or 16

    @staticmethod
    def add_arguments(parser):
        group = parser.add_argument_group("command")
        group.add_argument("--command", default="",
                           help="segmenter command template: {image} {mask} [{prompt} "
                                "{classname}] per image, or {list} per batch")
        group.add_argument("--entry-point", default="",
                           help="module:function(image_paths, prompts) -> masks")

    @classmethod
    def from_args(cls, args):
        return cls(args.command, args.entry_point, args.batch_size)

    def settings(self):
        return {"command": self.command} if self.command else {"entry_point": self.entry_point}

    def segment(self, requests):
        if self.entry_point:
            masks = self.function([r.image_path for r in requests], [r.prompt for r in requests])
            if len(masks) != len(requests):
                raise MakeMasksError(f"--entry-point {self.entry_point} returned {len(masks)} "
                                     f"masks for {len(requests)} images.")
            return [to_mask(m, r, self.entry_point) for m, r in zip(masks, requests)]
        with tempfile.TemporaryDirectory(prefix="make_masks-") as tmp:
            outputs = [os.path.join(tmp, f"{i}.png") for i in range(len(requests))]
            if self.per_batch:
                listing = os.path.join(tmp, "list.tsv")
                with open(listing, "w", encoding="utf-8") as f:
                    for r, out in zip(requests, outputs):
                        f.write(f"{r.image_path}\t{out}\t{r.prompt}\t{r.classname}\n")
                self._run({"{list}": listing}, f"the batch starting with {requests[0].image_path}")
            else:
                r, out = requests[0], outputs[0]
                self._run({"{image}": r.image_path, "{mask}": out, "{prompt}": r.prompt,
                           "{classname}": r.classname}, r.image_path)
            masks = []
            for r, out in zip(requests, outputs):
                if not os.path.isfile(out):
                    raise MakeMasksError(f"--command {self.command!r} wrote no mask for "
                                         f"{r.image_path} (expected at {out}).")
                with Image.open(out) as f:
                    masks.append(to_mask(f.convert("L"), r, self.command))
            return masks

    def _run(self, values, what):
        argv = []
        for word in self.argv:
            for key, value in values.items():
                word = word.replace(key, value)
            argv.append(word)
        try:
            done = subprocess.run(argv, capture_output=True, text=True)
        except OSError as e:
            raise MakeMasksError(f"Cannot run --command {self.command!r}: {e}") from None
        if done.returncode != 0:
            raise MakeMasksError(f"--command failed (exit {done.returncode}) on {what}: "
                                 f"{' '.join(map(shlex.quote, argv))}\n"
                                 f"{(done.stdout + done.stderr)[-2000:]}")


def load_entry_point(spec):
    """The function named ``module:function``."""
    module, _, function = spec.partition(":")
    if not module or not function:
        raise MakeMasksError(f"--entry-point {spec!r} must be module:function.")
    try:
        return getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError) as e:
        raise MakeMasksError(f"Cannot load --entry-point {spec}: {e}") from None


def to_mask(mask, request, source):
    """A segmenter's mask (PIL image or 2-D array) as a boolean array of the image's size."""
    if not isinstance(mask, Image.Image):
        array = np.asarray(mask)
        if array.ndim != 2:
            raise MakeMasksError(f"{source} gave a mask of shape {array.shape} for "
                                 f"{request.image_path}; expected a 2-D array.")
        cut = 0.5 if array.size == 0 or array.max() <= 1 else 127  # probabilities or 0-255
        mask = Image.fromarray((array > cut).astype(np.uint8) * 255)
    size = tuple(request.size)
    if mask.size != size:
        if not same_aspect_ratio(mask.size, size):
            raise MakeMasksError(f"{source} gave a {mask.size[0]}x{mask.size[1]} mask for "
                                 f"{request.image_path}, which is {size[0]}x{size[1]} (W x H): "
                                 "another aspect ratio.")
        mask = mask.resize(size, Image.NEAREST)
    return np.asarray(mask.convert("L")) > 127
