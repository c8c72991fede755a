"""Safe re-runs: a run folder records the settings it was made with.

``<output>/run_config.yaml`` is written before anything else of a run. Running again into
the folder with the same settings resumes the run, or, once ``result.json`` exists, says
that it is finished and shows its result; with other settings it stops before touching
anything and names the differing keys. ``start_over`` moves the old folder aside.
"""
import os
import time

import yaml

from .checkpoints import atomic_write_text
from .results import RESULT_FILE, read_run

RECORD_FILE = "run_config.yaml"
# Keys that cannot change a run's numbers: where it is written, how often it prints, and where
# the data folder is (a moved folder reads the same relative files; few-shot caches are rebased
# and FVG-PT checks its training images against its backbone's, training_images.json).
IGNORED_KEYS = ["OUTPUT_DIR", "RESUME", "TRAIN.PRINT_FREQ", "VERBOSE", "DATASET.ROOT"]


def ignore_keys(*keys):
    """Also leave ``keys`` out of run settings (options that cannot change numbers, e.g. a cache)."""
    IGNORED_KEYS.extend(k for k in keys if k not in IGNORED_KEYS)


class RunFolderError(RuntimeError):
    """The output folder holds a run made with other settings."""


def flatten(node, prefix=""):
    """``{"A.B": value}`` for every leaf of a (yacs) mapping."""
    flat = {}
    for key, value in node.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = list(value) if isinstance(value, tuple) else value
    return flat


def run_settings(cfg, eval_only=False, model_dir="", load_epoch=None):
    """What a run folder records: the whole config, and for evaluations the model evaluated."""
    settings = {k: v for k, v in flatten(cfg).items() if k not in IGNORED_KEYS}
    settings["RUN.EVAL_ONLY"] = bool(eval_only)
    if eval_only:
        settings["RUN.MODEL_DIR"] = os.path.abspath(model_dir) if model_dir else ""
        settings["RUN.LOAD_EPOCH"] = load_epoch
    return settings


def describe_result(result):
    text = f"accuracy {result['accuracy']:.2f}%, macro-F1 {result['macro_f1']:.2f}%"
    return text + ("" if result.get("d_fg") is None else f", D_fg {result['d_fg']:.4f}")


def prepare(output_dir, settings):
    """Check ``output_dir`` against ``settings`` and record them; True when already finished.

    Raises ``RunFolderError`` (nothing written) when the folder was made with other settings.
    """
    record = os.path.join(output_dir, RECORD_FILE)
    if os.path.isfile(record):
        with open(record) as f:
            recorded = yaml.safe_load(f) or {}
        keys = sorted(set(recorded) | set(settings))
        differing = [k for k in keys if recorded.get(k, "<absent>") != settings.get(k, "<absent>")]
        if differing:
            lines = [f"  {k}: {recorded.get(k, '<absent>')!r} in the folder, "
                     f"{settings.get(k, '<absent>')!r} now" for k in differing]
            raise RunFolderError(
                f"{output_dir} holds a run made with other settings ({record}):\n"
                + "\n".join(lines) + "\nNothing was changed. Use another --output-dir, or "
                "--start-over to move the old run aside and start again.")
    if os.path.isfile(os.path.join(output_dir, RESULT_FILE)):
        result = read_run(output_dir)
        print(f"{output_dir} is finished ({RESULT_FILE}): {describe_result(result)}")
        return True
    if not os.path.isfile(record):
        os.makedirs(output_dir, exist_ok=True)
        atomic_write_text(record, yaml.safe_dump(settings, sort_keys=True))
    return False


def start_over(output_dir):
    """Move a non-empty ``output_dir`` to ``<output_dir>.replaced-<time>``; returns that path."""
    if not os.path.isdir(output_dir) or not os.listdir(output_dir):
        return None
    target = f"{output_dir.rstrip(os.sep)}.replaced-{time.strftime('%Y%m%d-%H%M%S')}"
    while os.path.exists(target):
        target += "+"
    os.rename(output_dir, target)
    print(f"Starting over: the previous run in {output_dir} was moved to {target}")
    return target
