"""Safe re-runs: a run folder records the settings it was made with.

``<output>/run_config.yaml`` is written before anything else of a run. Running again into
the folder with the same settings resumes the run, or, once ``result.json`` exists, says
that it is finished and shows its result; with other settings it stops before touching
anything and names the differing keys. ``start_over`` moves the old folder aside.

A run owns its folder while it runs: ``<output>/run.lock`` names the process (pid, host, a
random token) and is refreshed every ``HEARTBEAT_S`` seconds. A second process, a
``start_over`` or a resubmitted job stops while the holder is alive; a lock whose process is
gone (same host: the pid is dead; another host: no refresh for ``STALE_AFTER_S``) is taken
over. Before writing a checkpoint or a result a run checks that the lock is still its own
(``check_owner``), so a run whose folder was moved aside never writes into the new one.
"""
import atexit
import json
import os
import socket
import sys
import threading
import time
import uuid

import yaml

from .checkpoints import atomic_write_text
from .results import RESULT_FILE, RunNotFinished, read_run

RECORD_FILE = "run_config.yaml"
LOCK_FILE = "run.lock"
HEARTBEAT_S = 30  # the lock holder refreshes the lock's modification time this often
STALE_AFTER_S = 300  # a lock of another host not refreshed for this long is left over
# Keys that cannot change a run's numbers: where it is written, how often it prints, and where
# the data folder is (a moved folder reads the same relative files; few-shot caches are rebased
# and FVG-PT checks its training images against its backbone's, training_images.json).
IGNORED_KEYS = ["OUTPUT_DIR", "RESUME", "TRAIN.PRINT_FREQ", "VERBOSE", "DATASET.ROOT"]


def ignore_keys(*keys):
    """Also leave ``keys`` out of run settings (options that cannot change numbers, e.g. a cache)."""
    IGNORED_KEYS.extend(k for k in keys if k not in IGNORED_KEYS)


class RunFolderError(RuntimeError):
    """The output folder holds a run made with other settings, or another process uses it."""


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


def check_resume_folder(resume, output_dir):
    """Refuse ``--resume`` (``RESUME``) from a folder other than the run's own."""
    if resume and os.path.abspath(resume) != os.path.abspath(output_dir):
        raise RunFolderError(
            f"--resume {resume} is not this run's folder (--output-dir {output_dir}). A run "
            "resumes only from its own folder, so that its checkpoints, settings and result "
            "stay together. Nothing was written. To continue that run, run its own command "
            f"again (--output-dir {resume}): it resumes by itself; to start a new run here, "
            "leave out --resume.")


def describe_result(result):
    text = f"accuracy {result['accuracy']:.2f}%, macro-F1 {result['macro_f1']:.2f}%"
    return text + ("" if result.get("d_fg") is None else f", D_fg {result['d_fg']:.4f}")


def check(output_dir, settings):
    """Check ``output_dir`` against ``settings`` without writing; True when already finished.

    Raises ``RunFolderError`` when the folder was made with other settings, when its
    ``result.json`` is unreadable, or when another live process holds it.
    """
    refuse_if_in_use(output_dir, "")
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
    result = os.path.join(output_dir, RESULT_FILE)
    if os.path.isfile(result):
        try:
            finished = read_run(output_dir)
        except RunNotFinished as err:
            raise RunFolderError(
                f"{err}: the run's done marker is damaged (truncated, e.g. by a full disk, or "
                f"edited). Nothing was changed. Delete {result} and run the same command again: "
                "the run resumes from its last checkpoint and only tests again (or use "
                "--start-over to train again).") from None
        print(f"{output_dir} is finished ({RESULT_FILE}): {describe_result(finished)}")
        return True
    return False


def prepare(output_dir, settings):
    """``check``, then lock ``output_dir`` and record ``settings``: the run claims the folder.

    True when already finished. Raises ``RunFolderError`` (nothing written) as ``check``.
    """
    if check(output_dir, settings):
        return True
    lock(output_dir)
    record = os.path.join(output_dir, RECORD_FILE)
    if not os.path.isfile(record):
        check_owner(output_dir, record)
        atomic_write_text(record, yaml.safe_dump(settings, sort_keys=True))
    return False


def start_over(output_dir):
    """Move a non-empty ``output_dir`` to ``<output_dir>.replaced-<time>``; returns that path.

    Raises ``RunFolderError`` (nothing moved) while another live process holds the folder.
    """
    if not os.path.isdir(output_dir) or not os.listdir(output_dir):
        return None
    refuse_if_in_use(output_dir, "Not starting over: ")
    target = f"{output_dir.rstrip(os.sep)}.replaced-{time.strftime('%Y%m%d-%H%M%S')}"
    while os.path.exists(target):
        target += "+"
    os.rename(output_dir, target)
    print(f"Starting over: the previous run in {output_dir} was moved to {target}")
    return target


# ---- the lock: one live process per run folder
_held = {}  # absolute folder -> token of the lock this process holds


def process_start(pid):
    """The start time of process ``pid`` (clock ticks since boot, Linux), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def read_lock(output_dir):
    """The record in ``<output_dir>/run.lock`` (pid, host, token, ...), or None when unlocked."""
    path = os.path.join(output_dir, LOCK_FILE)
    try:
        with open(path) as f:
            text = f.read()
        age = time.time() - os.path.getmtime(path)
    except FileNotFoundError:
        return None
    try:
        holder = json.loads(text)
    except json.JSONDecodeError:  # a lock being written right now, or damaged
        holder = {}
    return {**holder, "age_s": age, "text": text}


def is_left_over(holder):
    """True when the process that wrote ``holder`` is gone (see the module docstring)."""
    if holder.get("host") == socket.gethostname() and "pid" in holder:
        try:
            os.kill(holder["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, another user's
            return False
        start = process_start(holder["pid"])
        return None not in (start, holder.get("pid_start")) and start != holder["pid_start"]
    return holder["age_s"] > STALE_AFTER_S


def describe_holder(holder, output_dir):
    if "pid" not in holder:
        return f"an unreadable lock {os.path.join(output_dir, LOCK_FILE)}"
    return (f"process {holder['pid']} on host {holder.get('host')} (started "
            f"{holder.get('started', '?')}, command: {holder.get('command', '?')})")


def refuse_if_in_use(output_dir, what):
    """Raise ``RunFolderError`` when another live process holds ``output_dir``."""
    holder = read_lock(output_dir)
    if holder is None or holder.get("token") == _held.get(os.path.abspath(output_dir)):
        return
    if is_left_over(holder):
        return
    lock = os.path.join(output_dir, LOCK_FILE)
    raise RunFolderError(
        f"{what}{output_dir} is in use by {describe_holder(holder, output_dir)}; its lock "
        f"{lock} was refreshed {holder['age_s']:.0f} s ago. Nothing was changed. Wait for that "
        "run to finish (then run the same command again), or stop it first. A lock whose process "
        f"is gone is taken over by itself (same host: at once; another host: after "
        f"{STALE_AFTER_S} s without a refresh); delete {lock} only if you are sure that no "
        "process uses the folder.")


def _try_create(path, record):
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(record)
    return True


def lock(output_dir):
    """Make ``output_dir`` (if needed) and hold its lock until this process ends.

    Raises ``RunFolderError`` while another live process holds it. Holding it twice is a no-op.
    """
    key = os.path.abspath(output_dir)
    if key in _held:
        return
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, LOCK_FILE)
    token = uuid.uuid4().hex
    record = json.dumps({"pid": os.getpid(), "pid_start": process_start(os.getpid()),
                         "host": socket.gethostname(), "token": token,
                         "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                         "command": " ".join(sys.argv)}) + "\n"
    while not _try_create(path, record):
        refuse_if_in_use(output_dir, "")
        holder = read_lock(output_dir)
        if holder is None:
            continue
        left_over = f"{path}.left-over-{token}"
        try:
            os.rename(path, left_over)  # one process wins the take-over
        except FileNotFoundError:
            continue
        with open(left_over) as f:
            if f.read() != holder["text"]:  # a fresh lock taken by another process meanwhile
                os.link(left_over, path)
                os.remove(left_over)
                continue
        os.remove(left_over)
        print(f"Taking over {path}, left by {describe_holder(holder, output_dir)} (gone)")
    _held[key] = token
    atexit.register(unlock, output_dir)
    threading.Thread(target=_heartbeat, args=(output_dir, token), daemon=True).start()


def _owns(output_dir, token):
    holder = read_lock(output_dir)
    return holder is not None and holder.get("token") == token


def _heartbeat(output_dir, token):
    path = os.path.join(output_dir, LOCK_FILE)
    while True:
        time.sleep(HEARTBEAT_S)
        if _held.get(os.path.abspath(output_dir)) != token or not _owns(output_dir, token):
            return
        os.utime(path)


def unlock(output_dir):
    """Give up the lock of ``output_dir`` (if this process holds it)."""
    token = _held.pop(os.path.abspath(output_dir), None)
    if token is not None and _owns(output_dir, token):
        os.remove(os.path.join(output_dir, LOCK_FILE))


def check_owner(output_dir, writing):
    """Before writing ``writing`` into ``output_dir``: raise ``RunFolderError`` when this
    process locked the folder and the lock is no longer its own (moved aside, taken over)."""
    token = _held.get(os.path.abspath(output_dir))
    if token is None or _owns(output_dir, token):
        return
    holder = read_lock(output_dir)
    now = "no lock" if holder is None else describe_holder(holder, output_dir)
    raise RunFolderError(
        f"This run no longer owns {output_dir} (it now holds {now}): the folder was moved "
        f"aside (--start-over) or taken over while this run was still going. Stopping without "
        f"writing {writing}; this run's earlier files are where the folder was moved.")
