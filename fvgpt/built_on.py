"""What a run is built on, recorded in its checkpoints and ``result.json`` (key ``built_on``).

A record maps a part to its identity: ``clip_weights`` (the file's SHA-256, not only its
name), ``training_images`` (the hash of the training list, ``fvgpt.training_images``) and,
for a run built on another run, that run's checkpoint (added by its trainer). Resuming or
evaluating compares the record of the checkpoint with what the run has now and refuses a
difference, naming both (``check_same``).
"""
import hashlib
import os

KEY = "built_on"
_hashes = {}  # (path, size, mtime) -> SHA-256, so that each file is read once per process


def file_sha256(path):
    """SHA-256 of a file's bytes."""
    stat = os.stat(path)
    key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
    if key not in _hashes:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(2 ** 20), b""):
                digest.update(block)
        _hashes[key] = digest.hexdigest()
    return _hashes[key]


def clip_weights(cfg):
    """The CLIP weights ``MODEL.BACKBONE.NAME`` names: name, file and the file's SHA-256."""
    from .clip_loader import resolve_clip_path
    name = cfg.MODEL.BACKBONE.NAME
    path = resolve_clip_path(name, cfg.MODEL.BACKBONE.get("CLIP_CACHE_DIR", ""))
    return {"name": name, "file": os.path.abspath(path), "sha256": file_sha256(path)}


def describe(part):
    """One line naming a recorded part: its file or name, and the start of its hash."""
    where = part.get("file") or part.get("name") or "?"
    extra = "" if part.get("finished") is None else (
        ", finished run" if part["finished"] else ", UNFINISHED run")
    return f"{where} (sha256 {str(part.get('sha256'))[:12]}{extra})"


class BuiltOnError(ValueError):
    """What a run would build on is refused: a checkpoint made on other weights or data than
    the run has now, or a run that did not finish."""


def differences(recorded, current, parts=None):
    """The parts (all both records have, or ``parts``) whose hashes differ."""
    names = parts if parts is not None else sorted(set(recorded) & set(current))
    return [n for n in names if n in recorded and n in current
            and recorded[n].get("sha256") != current[n].get("sha256")]


def check_same(recorded, current, source, fix, parts=None):
    """Raise ``BuiltOnError`` naming both sides of each differing part.

    ``source`` names the file holding ``recorded``; ``fix`` says what to do.
    """
    if recorded is None:
        return
    differing = differences(recorded, current, parts)
    if differing:
        lines = [f"  {n}: {describe(recorded[n])} in {source},\n"
                 f"  {' ' * len(n)}  {describe(current[n])} now" for n in differing]
        raise BuiltOnError(
            f"{source} was made on other {', '.join(differing)} than this run uses:\n"
            + "\n".join(lines) + f"\nNothing was changed. {fix}")
