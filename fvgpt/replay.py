"""Exact replay of the frozen backbone's outputs (``TRAINER.FVGPT.REPLAY_CACHE``; docs/replay.md).

The backbone is frozen, so every FVG-PT variant of one seed sees the same views through the
same backbone. The first run records, per training step, what the head consumes (the FDC input
f(x), z(x), z(x_fg), z_CLIP(x), A(m), labels, which masks were substituted) in the dtype the
backbone produced, plus the random-number states the head starts each step from and the states
an epoch ends with. A later run with the same key and the same random state at the start of an
epoch replays that epoch: no image is read and no encoder runs, the head draws from exactly the
states it drew from in the recording run, and the epoch ends in exactly the recorded states. So
a replayed run ends with the same weights, numbers and checkpoints, bit for bit, as an uncached
one.

Layout: ``<cache>/<key>/epoch<E>-<start>/`` per epoch, where ``<key>`` hashes everything that
can change a view or an output (``replay_key``) and ``<start>`` the random-number and sampler
states the epoch starts from (a head built with other widths draws other numbers at
initialisation, so its crops differ: it records its own epochs). Each entry holds one raw file
per field (read memory-mapped), ``rng.pt`` and ``manifest.json`` with every file's size and
SHA-256; the manifest is written last, and the entry is built under a temporary name and
renamed, so a partial entry is never read. An entry that fails its check is removed and
recorded again.
"""
import glob
import hashlib
import json
import os
import platform
import shutil
import socket
from contextlib import contextmanager

import clip
import dassl
import numpy as np
import PIL
import torch
import torchvision

from . import run_folder
from .checkpoints import atomic_write_text
from .clip_loader import resolve_clip_path
from .dassl_backend import engine_description
from .losses import foreground_area
from .masks import mask_path_for
from .resume import restore_rng_state, rng_state

FORMAT = 2
MANIFEST = "manifest.json"  # written last: an entry without it is partial
RNG_FILE = "rng.pt"
RNG_STEP_BYTES = 16 * 2 ** 10  # bound on one step's random-number states in rng.pt
FIELDS = ("fdc", "logits", "logits_fg", "logits_clip", "area", "label", "index", "substituted")
# Keys that change neither a view nor a backbone output: the head's own settings, optimisation,
# testing, logging. Everything else in the config is part of the key (prefixes end with ".").
HEAD_ONLY_KEYS = (
    "OUTPUT_DIR", "RESUME", "VERBOSE", "TRAIN.PRINT_FREQ", "TRAIN.CHECKPOINT_FREQ", "TEST.",
    "TRAINER.FVGPT.ADAPTER_DIM", "TRAINER.FVGPT.ADAPTER_INIT_SCALE", "TRAINER.FVGPT.GATE_DIM",
    "TRAINER.FVGPT.TAU", "TRAINER.FVGPT.FDC_LOGIT_SCALE", "TRAINER.FVGPT.LAMBDA_DIST",
    "TRAINER.FVGPT.LAMBDA_NEW", "TRAINER.FVGPT.DETACH_GATE", "TRAINER.FVGPT.TEST_BRANCH",
    "TRAINER.FVGPT.ABLATION.", "TRAINER.FVGPT.REPLAY_CACHE", "TRAINER.FVGPT.REPLAY_MAX_BYTES",
    "TRAINER.FVGPT.BACKBONE_DIR", "TRAINER.FVGPT.BACKBONE_EPOCH",  # the checkpoint's hash instead
)
OPTIM_KEPT = ("OPTIM.MAX_EPOCH",)  # the rest of OPTIM only steers the head
# Where a run may write the cache without changing its numbers: not part of a run's settings.
run_folder.ignore_keys("TRAINER.FVGPT.REPLAY_CACHE", "TRAINER.FVGPT.REPLAY_MAX_BYTES")


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _file_stamp(path):
    """(size, mtime in ns) of a file, or None when it is missing."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _sources_sha256(*folders):
    """SHA-256 of the Python sources under ``folders`` (the code that makes views and outputs)."""
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(glob.glob(os.path.join(folder, "**", "*.py"), recursive=True)):
            digest.update(os.path.relpath(path, folder).encode())
            with open(path, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


def _is_head_only(key):
    if key.startswith("OPTIM."):
        return key not in OPTIM_KEPT
    return any(key == k or (k.endswith(".") and key.startswith(k)) for k in HEAD_ONLY_KEYS)


def config_key(cfg):
    """The config's part of the key: every key but ``HEAD_ONLY_KEYS``."""
    return {k: v for k, v in run_folder.flatten(cfg).items() if not _is_head_only(k)}


def replay_key(trainer):
    """What the recorded outputs depend on (a dict): the config less ``HEAD_ONLY_KEYS``, the
    backbone checkpoint's and the CLIP file's SHA-256, each training image's and mask's size and
    modification time, the classes, device, thread count, library versions and the sources of
    fvgpt, clip and the Dassl engine."""
    cfg, fv = trainer.cfg, trainer.cfg.TRAINER.FVGPT
    data = [[item.impath, int(item.label), _file_stamp(item.impath),
             _file_stamp(mask_path_for(item.impath, cfg.DATASET.ROOT, fv.MASK_ROOT))]
            for item in trainer.dm.dataset.train_x]
    clip_path = resolve_clip_path(cfg.MODEL.BACKBONE.NAME, cfg.MODEL.BACKBONE.CLIP_CACHE_DIR)
    return {
        "format": FORMAT, "config": config_key(cfg), "training_data": data,
        "classnames": list(trainer.dm.dataset.classnames),
        "backbone_checkpoint_sha256": trainer.backbone_meta["checkpoint_sha256"],
        "clip_sha256": file_sha256(clip_path), "device": str(trainer.device),
        "torch_threads": torch.get_num_threads(), "engine": engine_description(),
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "torchvision": torchvision.__version__, "numpy": np.__version__,
                     "pillow": PIL.__version__},
        "sources_sha256": _sources_sha256(os.path.dirname(os.path.abspath(__file__)),
                                          os.path.dirname(clip.__file__),
                                          os.path.dirname(dassl.__file__)),
    }


def key_digest(key):
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


def _portable(state):
    """A ``rng_state()`` that ``torch.load(weights_only=True)`` reads back."""
    name, keys, pos, has_gauss, cached = state["numpy"]
    version, internal, gauss = state["python"]  # tensors: fast to read back, unlike 625 ints
    return dict(state, python=[version, torch.tensor(internal, dtype=torch.int64), gauss],
                numpy=[name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached])


def _restorable(state):
    name, keys, pos, has_gauss, cached = state["numpy"]
    version, internal, gauss = state["python"]
    return dict(state, python=(version, tuple(internal.tolist()), gauss),
                numpy=(name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))


def state_digest(state, generators):
    """SHA-256 of random-number states and loader generator states."""
    digest = hashlib.sha256(repr(state["python"]).encode())
    name, keys, pos, has_gauss, cached = state["numpy"]
    digest.update(np.ascontiguousarray(keys).tobytes())
    digest.update(repr((name, pos, has_gauss, cached)).encode())
    for tensor in [state["torch"], *state.get("cuda", [])]:
        digest.update(tensor.cpu().numpy().tobytes())
    for name in sorted(generators):
        digest.update(name.encode() + generators[name].cpu().numpy().tobytes())
    return digest.hexdigest()


def folder_bytes(folder):
    total = 0
    for base, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(base, name))
            except FileNotFoundError:  # removed by another run meanwhile
                pass
    return total


def mib(n):
    return f"{n / 2 ** 20:.1f} MiB"


class ReplayEntryError(ValueError):
    """A cache entry is partial, damaged or does not belong to this run."""


class EpochRecording:
    """Writes one epoch's entry under a temporary folder; ``finish`` makes it visible."""

    def __init__(self, final, budget):
        self.final, self.budget = final, budget
        self.tmp = f"{final}.partial-{socket.gethostname()}-{os.getpid()}"
        shutil.rmtree(self.tmp, ignore_errors=True)
        os.makedirs(self.tmp)
        self.files, self.hashes, self.fields = {}, {}, {}
        self.rows, self.step_states, self.written = [], [], 0

    def add(self, arrays, state):
        """Append one step: ``arrays`` (numpy, one row per sample) and the head's start state."""
        size = sum(a.nbytes for a in arrays.values()) + RNG_STEP_BYTES
        if self.written + size > self.budget:
            raise ReplayEntryError(f"the epoch needs more than the {mib(self.budget)} left under "
                                   "TRAINER.FVGPT.REPLAY_MAX_BYTES")
        for name, array in arrays.items():
            if name not in self.files:
                self.files[name] = open(os.path.join(self.tmp, f"{name}.bin"), "wb")
                self.hashes[name] = hashlib.sha256()
                self.fields[name] = {"dtype": array.dtype.str, "row_shape": list(array.shape[1:])}
            data = np.ascontiguousarray(array).tobytes()
            self.files[name].write(data)
            self.hashes[name].update(data)
        self.written += size
        self.rows.append(int(next(iter(arrays.values())).shape[0]))
        self.step_states.append(_portable(state))

    def finish(self, end_state, end_generators, class_features_sha256, start_digest):
        for name, f in self.files.items():
            f.close()
            self.fields[name].update(bytes=os.path.getsize(f.name), sha256=self.hashes[name].hexdigest())
        rng_path = os.path.join(self.tmp, RNG_FILE)
        torch.save({"steps": self.step_states, "end": _portable(end_state),
                    "end_generators": end_generators}, rng_path)
        manifest = {"format": FORMAT, "start": start_digest, "rows": self.rows,
                    "fields": self.fields, "class_features_sha256": class_features_sha256,
                    "rng": {"bytes": os.path.getsize(rng_path), "sha256": file_sha256(rng_path)}}
        atomic_write_text(os.path.join(self.tmp, MANIFEST), json.dumps(manifest, indent=1))
        try:
            os.rename(self.tmp, self.final)
        except OSError:  # another run finished the same entry first: keep theirs
            shutil.rmtree(self.tmp, ignore_errors=True)

    def discard(self):
        for f in self.files.values():
            f.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class EpochReplay:
    """A complete, checked entry: per step a batch for ``FVGPTTrainer.forward_backward``."""

    def __init__(self, folder, start_digest, class_features_sha256, train_items):
        path = os.path.join(folder, MANIFEST)
        if not os.path.isfile(path):
            raise ReplayEntryError(f"{path} is missing (a partial entry)")
        try:
            with open(path) as f:
                manifest = json.load(f)
        except (OSError, ValueError) as err:
            raise ReplayEntryError(f"{path} cannot be read ({err})") from None
        if manifest.get("format") != FORMAT or manifest.get("start") != start_digest:
            raise ReplayEntryError(f"{path} belongs to another format or start state")
        if manifest["class_features_sha256"] != class_features_sha256:
            raise ReplayEntryError(f"{path} was recorded with other class features")
        self.rows = manifest["rows"]
        self.arrays = {}
        for name, field in manifest["fields"].items():
            self.arrays[name] = self._checked_memmap(os.path.join(folder, f"{name}.bin"), field)
        rng_path = os.path.join(folder, RNG_FILE)
        self._check_file(rng_path, manifest["rng"])
        rng = torch.load(rng_path, weights_only=True)
        self.step_states = [_restorable(s) for s in rng["steps"]]
        self.end_state, self.end_generators = _restorable(rng["end"]), rng["end_generators"]
        if set(self.arrays) != set(FIELDS) or len(self.step_states) != len(self.rows):
            raise ReplayEntryError(f"{path} lists other fields or steps than it holds")
        self.bytes = folder_bytes(folder)
        self.train_items = train_items

    @staticmethod
    def _check_file(path, field):
        if not os.path.isfile(path) or os.path.getsize(path) != field["bytes"]:
            raise ReplayEntryError(f"{path} is missing or has another size than its manifest says")
        if file_sha256(path) != field["sha256"]:
            raise ReplayEntryError(f"{path} does not match its SHA-256 in the manifest (damaged)")

    def _checked_memmap(self, path, field):
        self._check_file(path, field)
        dtype, row_shape = np.dtype(field["dtype"]), tuple(field["row_shape"])
        n = sum(self.rows)
        if field["bytes"] != n * dtype.itemsize * int(np.prod(row_shape, dtype=np.int64)):
            raise ReplayEntryError(f"{path} does not hold {n} rows of {row_shape} {dtype}")
        if n == 0:
            return np.zeros((0, *row_shape), dtype)
        return np.memmap(path, dtype=dtype, mode="r", shape=(n, *row_shape))

    def __len__(self):
        return len(self.rows)

    def __iter__(self):
        start = 0
        for step, n in enumerate(self.rows):
            rows = {name: torch.from_numpy(np.array(a[start:start + n])) for name, a in self.arrays.items()}
            start += n
            yield {"replay_step": step, "replayed": rows,
                   "impath": [self.train_items[i].impath for i in rows["index"].tolist()],
                   "mask_substituted": rows["substituted"]}


class ReplayCache:
    """``TRAINER.FVGPT.REPLAY_CACHE`` for one training run (inactive when the folder is "")."""

    def __init__(self, folder="", max_bytes=0, key=None, device="cpu"):
        self.folder, self.max_bytes, self.device = folder, max_bytes, device
        self.key_folder = None
        if folder:
            digest = key_digest(key)
            self.key_folder = os.path.join(folder, digest[:24])
            os.makedirs(self.key_folder, exist_ok=True)
            key_file = os.path.join(self.key_folder, "key.json")
            if not os.path.isfile(key_file):
                atomic_write_text(key_file, json.dumps({"sha256": digest, **key}, indent=1, default=str))
        self.recording = None
        self.replay_step_states = None

    @classmethod
    def for_trainer(cls, trainer):
        fv = trainer.cfg.TRAINER.FVGPT
        if not fv.REPLAY_CACHE:
            return cls()
        folder = os.path.abspath(os.path.expanduser(fv.REPLAY_CACHE))
        return cls(folder, fv.REPLAY_MAX_BYTES, replay_key(trainer), trainer.device)

    @contextmanager
    def epoch(self, trainer):
        """Around one epoch's loop: replay it when its entry exists, else record it when allowed."""
        if not self.folder:
            yield
            return
        generators = trainer.sampler_state(0)["generators"]
        start = state_digest(rng_state(), generators)
        entry = os.path.join(self.key_folder, f"epoch{trainer.epoch}-{start[:24]}")
        class_sha = hashlib.sha256(
            trainer.backbone.class_features.float().cpu().numpy().tobytes()).hexdigest()
        replay = self._open(entry, start, class_sha, trainer.dm.dataset.train_x)
        if replay is not None:
            print(f"Replay cache: replaying epoch {trainer.epoch + 1} from {entry} ({mib(replay.bytes)})")
            loader, trainer.train_loader_x = trainer.train_loader_x, replay
            self.replay_step_states = replay.step_states
            try:
                yield
            finally:
                trainer.train_loader_x, self.replay_step_states = loader, None
            restore_rng_state(replay.end_state)
            trainer.load_sampler_state({"generators": replay.end_generators})
            return
        self.recording = self._start_recording(entry, trainer)
        try:
            yield
        except BaseException:
            if self.recording is not None:
                self.recording.discard()
            self.recording = None
            raise
        if self.recording is not None:
            self._finish(trainer, start, class_sha)

    def _open(self, entry, start, class_sha, train_items):
        if not os.path.isdir(entry):
            return None
        try:
            return EpochReplay(entry, start, class_sha, train_items)
        except (ReplayEntryError, OSError, RuntimeError) as err:
            print(f"Replay cache: {entry} is unusable ({err}); removing it and recording the "
                  "epoch again.")
            shutil.rmtree(entry, ignore_errors=True)
            return None

    def _start_recording(self, entry, trainer):
        self._remove_dead_partials(entry)
        used = folder_bytes(self.folder)
        left = self.max_bytes - used
        if left <= 0:
            print(f"Replay cache: {self.folder} holds {mib(used)}, the limit "
                  f"TRAINER.FVGPT.REPLAY_MAX_BYTES is {mib(self.max_bytes)}: epoch "
                  f"{trainer.epoch + 1} runs uncached and is not recorded. Raise the limit or "
                  "remove old entries (each <key>/ folder has a key.json saying what it holds).")
            return None
        return EpochRecording(entry, left)

    def _finish(self, trainer, start, class_sha):
        recording, self.recording = self.recording, None
        recording.finish(rng_state(), trainer.sampler_state(0)["generators"], class_sha, start)
        print(f"Replay cache: recorded epoch {trainer.epoch + 1} in {recording.final} "
              f"({mib(folder_bytes(recording.final))}); the cache holds "
              f"{mib(folder_bytes(self.folder))} of at most {mib(self.max_bytes)}")

    @staticmethod
    def _remove_dead_partials(entry):
        """Remove partial recordings of ``entry`` left by killed runs on this host."""
        prefix = f"{entry}.partial-{socket.gethostname()}-"
        for path in glob.glob(glob.escape(prefix) + "*"):
            pid = path[len(prefix):]
            if pid.isdigit() and not _pid_alive(int(pid)):
                shutil.rmtree(path, ignore_errors=True)

    def head_inputs(self, batch, compute):
        """``compute(batch)`` (recording it when recording), or the recorded step of a replay.

        Returns the dict ``FVGPTTrainer.forward_backward`` hands to the head; on replay the
        random-number states are set to those the head saw in the recording run, and ``mask``
        is the (B, 1) column of A(m), from which ``foreground_area`` reads the same A(m).
        """
        if "replay_step" in batch:
            restore_rng_state(self.replay_step_states[batch["replay_step"]])
            rows = {k: v.to(self.device) for k, v in batch["replayed"].items()}
            return {"fdc": rows["fdc"], "logits": rows["logits"], "logits_fg": rows["logits_fg"],
                    "logits_clip": rows["logits_clip"], "mask": rows["area"].unsqueeze(1),
                    "label": rows["label"]}
        inputs = compute(batch)
        if self.recording is not None:
            arrays = {name: inputs[name].detach().cpu().numpy()
                      for name in ("fdc", "logits", "logits_fg", "logits_clip", "label")}
            arrays["area"] = foreground_area(inputs["mask"]).cpu().numpy()
            arrays["index"] = batch["index"].cpu().numpy().astype(np.int64)
            arrays["substituted"] = batch["mask_substituted"].cpu().numpy().astype(bool)
            try:
                self.recording.add(arrays, rng_state())
            except ReplayEntryError as err:
                print(f"Replay cache: stopped recording ({err}); the run goes on uncached.")
                self.recording.discard()
                self.recording = None
        return inputs


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
