"""What make_masks wrote: one record per data set and mask folder, so it never replaces a mask
it did not write.

``<mask root>/make_masks/<DATASET.NAME>.jsonl`` holds JSON lines: a ``settings`` line (method,
its settings, prompt) each time a run starts with other settings than the last, then one
``mask`` line per file written (path relative to the mask root, SHA-256 of its bytes), each
belonging to the settings line above it. A line is appended before its mask file is renamed
into place, so a kill at any point leaves every mask make_masks wrote on record. A mask file
is make_masks' own when its bytes hash to one recorded for its path; anything else (a mask
from elsewhere, or one edited since) is foreign and never touched.
"""
import hashlib
import io
import json
import os

import numpy as np
from PIL import Image

from ..checkpoints import atomic_write, atomic_write_text

RECORD_DIR = "make_masks"


class RecordError(RuntimeError):
    """The record file cannot be read."""


def record_path(mask_root, dataset_name, suffix=".jsonl"):
    return os.path.join(mask_root, RECORD_DIR, dataset_name + suffix)


def png_bytes(mask):
    """A boolean (H, W) mask as an 8-bit 'L' PNG, 255 on foreground, 0 elsewhere."""
    buffer = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8) * 255, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def file_sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class MaskRecord:
    """The record of one data set's masks under one mask root (module docstring)."""

    def __init__(self, mask_root, dataset_name):
        self.mask_root = mask_root
        self.path = record_path(mask_root, dataset_name)
        self.settings = []  # every settings line, in order
        self.hashes = {}    # relative mask path -> {sha256: index into self.settings}
        self._read()

    def _read(self):
        if not os.path.exists(self.path):
            return
        with open(self.path, encoding="utf-8") as f:
            text = f.read()
        lines = text.split("\n")
        torn = lines.pop()  # "" when the file ends with a newline; else a line cut by a kill
        for number, line in enumerate(lines, 1):
            try:
                entry = json.loads(line)
                if "settings" in entry:
                    self.settings.append(entry["settings"])
                else:
                    self.hashes.setdefault(entry["mask"], {})[entry["sha256"]] = len(self.settings) - 1
            except (ValueError, KeyError, TypeError) as e:
                raise RecordError(
                    f"Line {number} of make_masks' record {self.path} cannot be read ({e}). The "
                    "record says which masks make_masks wrote; restore it from a backup, or move "
                    "it and this data set's masks out of the mask folder and make them again."
                ) from None
        if torn:  # drop the cut line so that appended lines start on their own
            atomic_write_text(self.path, "\n".join(lines) + "\n" if lines else "")

    def owner_settings(self, mask_path, sha256=None):
        """The settings make_masks wrote the file at ``mask_path`` with; None when foreign."""
        written = self.hashes.get(self._rel(mask_path))
        if not written:
            return None
        index = written.get(sha256 or file_sha256(mask_path))
        return None if index is None else self.settings[index]

    def start(self, settings):
        """Record ``settings`` as those of the masks written from now on."""
        if not self.settings or self.settings[-1] != settings:
            self._append({"settings": settings})
            self.settings.append(settings)

    def write(self, mask_path, data):
        """Write the PNG bytes ``data`` at ``mask_path``: recorded first, then renamed in place."""
        sha256 = hashlib.sha256(data).hexdigest()
        rel = self._rel(mask_path)
        self._append({"mask": rel, "sha256": sha256})
        self.hashes.setdefault(rel, {})[sha256] = len(self.settings) - 1
        os.makedirs(os.path.dirname(mask_path), exist_ok=True)

        def write_bytes(tmp):
            with open(tmp, "wb") as f:
                f.write(data)
        atomic_write(mask_path, write_bytes)

    def _rel(self, mask_path):
        return os.path.relpath(mask_path, self.mask_root).replace(os.sep, "/")

    def _append(self, entry):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")
