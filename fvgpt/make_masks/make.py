"""Make the mask of every image that has none, resumably, and report on the mask tree."""
import os
import sys
from collections import defaultdict

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..checkpoints import atomic_write_text
from ..masks import decoded_size, mask_path_for
from .methods import MakeMasksError, MaskRequest
from .prompts import prompt_for
from .records import MaskRecord, png_bytes, record_path


class Summary:
    """What a run found and did; ``report`` is the text written next to the record."""

    def __init__(self):
        self.written, self.made_before, self.foreign, self.unreadable_images = 0, 0, [], []
        self.report, self.report_path = "", ""


def run_settings(method, prompt_template):
    """What the record keeps about how the masks were made."""
    settings = {"method": method.name, "options": method.settings()}
    if method.uses_prompt:
        settings["prompt"] = prompt_template
    return settings


def make_masks(images, root, mask_root, method, prompt_template, dataset_name, replace=False,
               show_progress=True):
    """Write a mask for each ``(image path, class name)`` in ``images`` that has none.

    Masks make_masks wrote before with the same settings are kept (so a killed run resumes);
    masks it wrote with other settings stop the run unless ``replace``, which rewrites them;
    masks it did not write are never touched. Returns a ``Summary``.
    """
    record = MaskRecord(mask_root, dataset_name)
    settings = run_settings(method, prompt_template)
    summary, todo, other_settings = Summary(), [], []
    for impath, classname in images:
        mask_path = mask_path_for(impath, root, mask_root)
        if not os.path.exists(mask_path):
            todo.append((impath, classname, mask_path))
            continue
        owner = record.owner_settings(mask_path)
        if owner is None:
            summary.foreign.append(mask_path)
        elif owner == settings:
            summary.made_before += 1
        else:
            other_settings.append((impath, classname, mask_path))
            other = owner
    if other_settings and not replace:
        raise MakeMasksError(
            f"{len(other_settings)} mask(s) in {mask_root}, e.g. {other_settings[-1][2]}, were "
            f"written by make_masks with other settings ({other}) than this run's "
            f"({settings}). Nothing was changed. Pass --replace to rewrite the masks make_masks "
            "wrote (it never touches others), or give another --mask-root.")
    todo += other_settings
    record.start(settings)
    with tqdm(total=len(images), initial=len(images) - len(todo), unit="mask",
              desc=f"{method.name} masks", disable=not show_progress,
              mininterval=0.1 if sys.stderr.isatty() else 30) as bar:
        for start in range(0, len(todo), method.batch_size):
            batch = [_request(item, prompt_template, summary) for item in
                     todo[start:start + method.batch_size]]
            batch = [b for b in batch if b is not None]
            masks = method.segment([r for r, _ in batch]) if batch else []
            for (request, mask_path), mask in zip(batch, masks):
                expected = (request.size[1], request.size[0])
                if mask.shape != expected:
                    raise MakeMasksError(f"The {method.name} method made a {mask.shape} mask for "
                                         f"{request.image_path}, whose (H, W) is {expected}.")
                record.write(mask_path, png_bytes(mask))
                summary.written += 1
            bar.update(min(method.batch_size, len(todo) - start))
    summary.report = report_text(images, root, mask_root, dataset_name, settings, summary)
    summary.report_path = record_path(mask_root, dataset_name, ".report.md")
    atomic_write_text(summary.report_path, summary.report)
    return summary


def _request(item, prompt_template, summary):
    impath, classname, mask_path = item
    try:
        size = decoded_size(impath)
    except Exception as e:  # PIL raises several types for a damaged file
        summary.unreadable_images.append((impath, f"{type(e).__name__}: {e}"))
        return None
    return MaskRequest(impath, size, classname, prompt_for(prompt_template, classname)), mask_path


def foreground_share(mask_path):
    """Share of the mask's pixels above 127 (above the default MASK_THRESHOLD 0.5)."""
    with Image.open(mask_path) as f:
        return float((np.asarray(f.convert("L")) > 127).mean())


def report_text(images, root, mask_root, dataset_name, settings, summary):
    """Per class: images, masks, mean foreground area, empty masks (Markdown)."""
    per_class = defaultdict(list)
    for impath, classname in images:
        mask_path = mask_path_for(impath, root, mask_root)
        try:
            per_class[classname].append(foreground_share(mask_path))
        except OSError:  # missing (unreadable image) or undecodable
            per_class.setdefault(classname, [])
    counts = defaultdict(int)
    for _, classname in images:
        counts[classname] += 1
    lines = [f"# make_masks: {dataset_name}, {len(images)} images",
             "",
             f"Masks in {mask_root}; settings {settings}.",
             f"Written this run: {summary.written}; made before with these settings: "
             f"{summary.made_before}; kept, not written by make_masks: {len(summary.foreign)}"
             + (f" (e.g. {', '.join(summary.foreign[:3])})" if summary.foreign else "")
             + f"; images that cannot be read (no mask): {len(summary.unreadable_images)}"
             + (f" (e.g. {summary.unreadable_images[0][0]})" if summary.unreadable_images else "")
             + ".",
             "",
             "| class | images | masks | mean foreground area | empty masks |",
             "|---|---|---|---|---|"]
    every = []
    for classname, areas in per_class.items():
        every += areas
        lines.append(_row(classname, counts[classname], areas))
    lines.append(_row("**all**", len(images), every))
    return "\n".join(lines) + "\n"


def _row(name, n_images, areas):
    mean = f"{np.mean(areas):.3f}" if areas else "-"
    return f"| {name} | {n_images} | {len(areas)} | {mean} | {sum(a == 0 for a in areas)} |"
