"""Reading checkpoints with an error that names the file and what to do about it."""
import errno
import os
import re
import shutil

import torch

BEST_FILE = "model-best.pth.tar"  # Dassl's name for the best-validation checkpoint


def atomic_write(path, write, durable=False):
    """Call ``write(tmp_path)``, then rename the temporary file to ``path``.

    A process killed at any point leaves either the old file or the new one.
    ``durable``: also flush the file to disk first (survives a power cut; slower).
    """
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        write(tmp)
        if durable:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:
        if not disk_full(err, path):
            raise
        raise OSError(errno.ENOSPC, f"Cannot write {path}: no space left on the device "
                      f"({err}). The previous file of that name is intact. Free some space "
                      "(or use another --output-dir) and run the same command again: it "
                      "resumes from the last checkpoint.") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def disk_full(err, path):
    """True when writing ``path`` failed for want of space. Torch's writer reports a full disk
    only as "file write failed", so the free space of the folder is asked then."""
    if isinstance(err, OSError):
        return err.errno in (errno.ENOSPC, errno.EDQUOT)
    try:
        return shutil.disk_usage(os.path.dirname(os.path.abspath(path))).free < 2 ** 20
    except OSError:
        return False


def atomic_write_text(path, text):
    def write(tmp):
        with open(tmp, "w") as f:
            f.write(text)
    atomic_write(path, write)


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated or not a torch checkpoint."""


def read_checkpoint(path, what, fix):
    """``torch.load`` of one of this project's own checkpoints, on the CPU.

    ``what`` says which checkpoint it is ("the FVG-PT head checkpoint"), ``fix`` what the
    user can do when it cannot be read; both go into the error.
    """
    if not os.path.isfile(path):
        raise CheckpointError(f"{what} not found: {path}. {fix}")
    try:
        # Dassl checkpoints pickle the scheduler, so weights-only loading refuses them.
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises several kinds for a damaged file
        raise CheckpointError(
            f"Cannot read {what} {path}: the file is damaged (e.g. truncated by a kill or a "
            f"full disk) or not a torch checkpoint ({type(err).__name__}: {err}). {fix}"
        ) from None


def saved_checkpoint(folder, epoch=None, what="checkpoint"):
    """The file to load from a model folder (``<run>/<model name>``), one rule for every trainer:
    ``model.pth.tar-<epoch>`` when an epoch (> 0) is given; otherwise ``model-best.pth.tar``
    where the run saved one (Dassl's TEST.FINAL_MODEL best_val), else the last saved epoch.
    The log names the file and which case chose it; FileNotFoundError when nothing is saved."""
    if epoch and epoch > 0:
        path = os.path.join(folder, f"model.pth.tar-{epoch}")
        print(f"Loading {path} (epoch {epoch})")
        return path
    saved = sorted((int(m[1]), m[0]) for m in (re.fullmatch(r"model\.pth\.tar-(\d+)", f) for f in
                   (os.listdir(folder) if os.path.isdir(folder) else [])) if m)
    if os.path.isfile(os.path.join(folder, BEST_FILE)):
        path = os.path.join(folder, BEST_FILE)
        print(f"Loading {path} (no epoch given: the best-validation checkpoint, which this run saved)")
        return path
    if not saved:
        raise FileNotFoundError(f"No {what} in {folder} (neither model.pth.tar-<epoch> nor {BEST_FILE}).")
    path = os.path.join(folder, saved[-1][1])
    print(f"Loading {path} (no epoch given: the last saved epoch, {saved[-1][0]})")
    return path
