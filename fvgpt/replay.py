"""Exact replay of the frozen backbone's outputs (``TRAINER.FVGPT.REPLAY_CACHE``; docs/replay.md).

The backbone is frozen, so every FVG-PT variant of one seed sees the same views through the
same backbone. The first run records, per training step, what the head consumes (the FDC input
f(x), z(x), z(x_fg), z_CLIP(x), A(m), labels, which masks were substituted) in the dtype the
backbone produced, plus the random-number states the head starts each step from and the states
an epoch ends with. A later run with the same key and the same random state at the start of an
epoch replays that epoch: no image is read and no encoder runs, the head draws from exactly the
states it drew from in the recording run, and the epoch ends in exactly the recorded states. So
a replayed run ends with the same weights, numbers and checkpoints, bit for bit, as an uncached
one. Test passes (``EvaluationPass``) are recorded and replayed the same way, per batch.

Layout: ``<cache>/<key>/epoch<E>-<start>/`` per epoch and ``<cache>/<key>/eval-<pass>-<branch>-
<start>-<images>/`` per test pass, where ``<key>`` hashes everything that
can change a view or an output (``replay_key``) and ``<start>`` the random-number and sampler
states the epoch starts from (a head built with other widths draws other numbers at
initialisation, so its crops differ: it records its own epochs). Each entry holds one raw file
per field (read whole and checked), ``rng.pt`` and ``manifest.json`` with every file's size and
SHA-256; the manifest is written last, and the entry is built under a temporary name and
renamed, so a partial entry is never read. An entry that fails its check is removed and
recorded again.
"""
import glob
import hashlib
import io
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

from . import built_on, run_folder
from .checkpoints import atomic_write_text
from .dassl_backend import engine_description
from .losses import foreground_area
from .masks import MaskError, mask_path_for
from .resume import restore_rng_state, rng_state

FORMAT = 3
MANIFEST = "manifest.json"  # written last: an entry without it is partial
RNG_FILE = "rng.pt"
RNG_STEP_BYTES = 16 * 2 ** 10  # bound on one step's random-number states in rng.pt
EVALUATION_IMAGES = ("img", "img_fg")  # the image keys of an evaluation batch (img_fg: D_fg's)
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


def _file_stamp(path):
    """(size, mtime in ns) of a file, or None when it is missing."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return [st.st_size, st.st_mtime_ns]


def image_stamps(items, cfg):
    """Per data item: its image path, label, and the size and modification time of its image
    and of its mask (TRAINER.FVGPT.MASK_ROOT, MASK_EXT)."""
    fv = cfg.TRAINER.FVGPT
    stamps = []
    for item in items:
        try:
            mask = _file_stamp(mask_path_for(item.impath, cfg.DATASET.ROOT, fv.MASK_ROOT, fv.MASK_EXT))
        except MaskError:  # outside DATASET.ROOT: it has no mask
            mask = None
        stamps.append([item.impath, int(item.label), _file_stamp(item.impath), mask])
    return stamps


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
    cfg = trainer.cfg
    data = image_stamps(trainer.dm.dataset.train_x, cfg)
    return {
        "format": FORMAT, "config": config_key(cfg), "training_data": data,
        "classnames": list(trainer.dm.dataset.classnames),
        "backbone_checkpoint_sha256": trainer.backbone_meta["checkpoint_sha256"],
        "clip_sha256": built_on.clip_weights(cfg)["sha256"], "device": str(trainer.device),
        "torch_threads": torch.get_num_threads(), "engine": engine_description(),
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "torchvision": torchvision.__version__, "numpy": np.__version__,
                     "pillow": PIL.__version__},
        "sources_sha256": _sources_sha256(os.path.dirname(os.path.abspath(__file__)),
                                          os.path.dirname(clip.__file__),
                                          os.path.dirname(dassl.__file__)),
    }


def class_features_sha256(trainer):
    return hashlib.sha256(trainer.backbone.class_features.float().cpu().numpy().tobytes()).hexdigest()


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


def _stacked(states):
    """Many ``_portable`` states as one per field, each tensor stacked (fast to read back)."""
    if not states:
        return None
    fields = {"python": [list(part) for part in zip(*(s["python"] for s in states))],
              "numpy": [list(part) for part in zip(*(s["numpy"] for s in states))],
              "torch": torch.stack([s["torch"] for s in states])}
    fields["python"][1] = torch.stack(fields["python"][1])
    fields["numpy"][1] = torch.stack(fields["numpy"][1])
    if "cuda" in states[0]:
        fields["cuda"] = [torch.stack(per_device) for per_device in zip(*(s["cuda"] for s in states))]
    return fields


def _unstacked(fields):
    """The ``_restorable`` states of ``_stacked(states)``."""
    if fields is None:
        return []
    python, numpy_ = list(zip(*fields["python"])), list(zip(*fields["numpy"]))  # rows of each
    states = []
    for step, torch_state in enumerate(fields["torch"]):
        state = {"python": python[step], "numpy": numpy_[step], "torch": torch_state.clone()}
        if "cuda" in fields:  # clones: a generator reads a state from its storage's start
            state["cuda"] = [per_device[step].clone() for per_device in fields["cuda"]]
        states.append(_restorable(state))
    return states


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


class EntryWriter:
    """Writes one entry (an epoch, or an evaluation pass) under a temporary folder; ``finish``
    makes it visible."""

    def __init__(self, final, budget):
        self.final, self.budget = final, budget
        self.tmp = f"{final}.partial-{socket.gethostname()}-{os.getpid()}"
        shutil.rmtree(self.tmp, ignore_errors=True)
        os.makedirs(self.tmp)
        self.files, self.hashes, self.fields = {}, {}, {}
        self.rows, self.step_states, self.written = [], [], 0

    def add(self, arrays, state=None):
        """Append one step: ``arrays`` (numpy, one row per sample) and, for a training step,
        the random-number state the head starts it from."""
        size = sum(a.nbytes for a in arrays.values()) + RNG_STEP_BYTES * (state is not None)
        if self.written + size > self.budget:
            raise ReplayEntryError(f"the entry needs more than the {mib(self.budget)} left under "
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
        if state is not None:
            self.step_states.append(_portable(state))

    def finish(self, end_state, end_generators, class_features_sha256, start_digest):
        for name, f in self.files.items():
            f.close()
            self.fields[name].update(bytes=os.path.getsize(f.name), sha256=self.hashes[name].hexdigest())
        buffer = io.BytesIO()
        torch.save({"steps": _stacked(self.step_states), "end": _portable(end_state),
                    "end_generators": end_generators}, buffer)
        rng = buffer.getvalue()
        with open(os.path.join(self.tmp, RNG_FILE), "wb") as f:
            f.write(rng)
        manifest = {"format": FORMAT, "start": start_digest, "rows": self.rows,
                    "fields": self.fields, "class_features_sha256": class_features_sha256,
                    "rng": {"bytes": len(rng), "sha256": hashlib.sha256(rng).hexdigest()}}
        atomic_write_text(os.path.join(self.tmp, MANIFEST), json.dumps(manifest, indent=1))
        try:
            os.rename(self.tmp, self.final)
        except OSError:  # another run finished the same entry first: keep theirs
            shutil.rmtree(self.tmp, ignore_errors=True)

    def discard(self):
        for f in self.files.values():
            f.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class EntryReader:
    """A complete, checked entry: its fields read (each file once, checked), its random-number
    states loaded."""

    def __init__(self, folder, start_digest, class_features_sha256):
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
        self.path, self.rows = path, manifest["rows"]
        self.arrays = {}
        for name, field in manifest["fields"].items():
            self.arrays[name] = self._checked_array(os.path.join(folder, f"{name}.bin"), field)
        rng = torch.load(io.BytesIO(self._check_file(os.path.join(folder, RNG_FILE), manifest["rng"])),
                         weights_only=True)
        self.step_states = _unstacked(rng["steps"])
        self.end_state, self.end_generators = _restorable(rng["end"]), rng["end_generators"]
        self.bytes = folder_bytes(folder)

    @staticmethod
    def _check_file(path, field):
        """The file's bytes, checked against its size and SHA-256 in the manifest."""
        if not os.path.isfile(path) or os.path.getsize(path) != field["bytes"]:
            raise ReplayEntryError(f"{path} is missing or has another size than its manifest says")
        data = bytearray(field["bytes"])
        with open(path, "rb") as f:
            f.readinto(data)
        if hashlib.sha256(data).hexdigest() != field["sha256"]:
            raise ReplayEntryError(f"{path} does not match its SHA-256 in the manifest (damaged)")
        return data

    def _checked_array(self, path, field):
        data = self._check_file(path, field)
        dtype, row_shape = np.dtype(field["dtype"]), tuple(field["row_shape"])
        n = sum(self.rows)
        if field["bytes"] != n * dtype.itemsize * int(np.prod(row_shape, dtype=np.int64)):
            raise ReplayEntryError(f"{path} does not hold {n} rows of {row_shape} {dtype}")
        return np.frombuffer(data, dtype=dtype).reshape(n, *row_shape)

    def __len__(self):
        return len(self.rows)

    def steps(self):
        """Per step, {field: tensor of its rows}."""
        start = 0
        for n in self.rows:
            yield {name: torch.from_numpy(a[start:start + n].copy()) for name, a in self.arrays.items()}
            start += n


class EpochReplay(EntryReader):
    """A training epoch's entry: per step a batch for ``FVGPTTrainer.forward_backward``."""

    def __init__(self, folder, start_digest, class_features_sha256, train_items):
        super().__init__(folder, start_digest, class_features_sha256)
        if set(self.arrays) != set(FIELDS) or len(self.step_states) != len(self.rows):
            raise ReplayEntryError(f"{self.path} lists other fields or steps than it holds")
        self.train_items = train_items

    def __iter__(self):
        for step, rows in enumerate(self.steps()):
            yield {"replay_step": step, "replayed": rows,
                   "impath": [self.train_items[i].impath for i in rows["index"].tolist()],
                   "mask_substituted": rows["substituted"]}


class EvaluationImage:
    """The image tensor under ``key`` of an evaluation batch (``img``; D_fg's ``img_fg``):
    when recording, ``ReplayCache.inference_inputs`` records the backbone outputs computed from
    ``tensor``; when replaying, ``outputs`` holds them and no image was read."""

    def __init__(self, key, tensor=None, outputs=None):
        self.key, self.tensor, self.outputs = key, tensor, outputs

    def to(self, device):
        if self.outputs is not None:
            return EvaluationImage(self.key, outputs={k: v.to(device) for k, v in self.outputs.items()})
        return EvaluationImage(self.key, tensor=self.tensor.to(device))


class EvaluationReplay(EntryReader):
    """An evaluation pass's entry: per batch its labels and, per image key, the backbone outputs."""

    def __init__(self, folder, start_digest, class_features_sha256, n_images):
        super().__init__(folder, start_digest, class_features_sha256)
        if "label" not in self.arrays or sum(self.rows) != n_images:
            raise ReplayEntryError(f"{self.path} does not hold the labels of {n_images} images")

    def __iter__(self):
        for rows in self.steps():
            batch = {"label": rows.pop("label")}
            for name, value in rows.items():
                key, output = name.split(".", 1)
                batch.setdefault(key, EvaluationImage(key, outputs={})).outputs[output] = value
            yield batch


class ReplayCache:
    """``TRAINER.FVGPT.REPLAY_CACHE`` for one run (inactive when the folder is "")."""

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
        self.evaluation_calls = None  # {image key: outputs} of a recording pass's batch

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
        class_sha = class_features_sha256(trainer)
        what = f"epoch {trainer.epoch + 1}"
        replay = self._open(entry, what, lambda: EpochReplay(entry, start, class_sha,
                                                             trainer.dm.dataset.train_x))
        if replay is not None:
            loader, trainer.train_loader_x = trainer.train_loader_x, replay
            self.replay_step_states = replay.step_states
            try:
                yield
            finally:
                trainer.train_loader_x, self.replay_step_states = loader, None
            restore_rng_state(replay.end_state)
            trainer.load_sampler_state({"generators": replay.end_generators})
            return
        self.recording = self._start_recording(entry, what)
        try:
            yield
        except BaseException:
            if self.recording is not None:
                self.recording.discard()
            self.recording = None
            raise
        if self.recording is not None:
            recording, self.recording = self.recording, None
            self._finish(recording, what, start, class_sha, trainer.sampler_state(0)["generators"])

    def evaluation(self, trainer, name, loader):
        """``loader`` of an evaluation pass (deterministic views), its backbone outputs recorded
        under ``name`` or replayed (``EvaluationPass``); ``loader`` itself when inactive."""
        return EvaluationPass(self, trainer, name, loader) if self.folder else loader

    def _open(self, entry, what, read):
        """``read()`` of the complete entry ``entry``, or None (missing; unusable: removed)."""
        if not os.path.isdir(entry):
            return None
        try:
            replay = read()
        except (ReplayEntryError, OSError, RuntimeError) as err:
            print(f"Replay cache: {entry} is unusable ({err}); removing it and recording "
                  f"{what} again.")
            shutil.rmtree(entry, ignore_errors=True)
            return None
        print(f"Replay cache: replaying {what} from {entry} ({mib(replay.bytes)})")
        return replay

    def _start_recording(self, entry, what):
        self._remove_dead_partials(entry)
        used = folder_bytes(self.folder)
        left = self.max_bytes - used
        if left <= 0:
            print(f"Replay cache: {self.folder} holds {mib(used)}, the limit "
                  f"TRAINER.FVGPT.REPLAY_MAX_BYTES is {mib(self.max_bytes)}: {what} runs "
                  "uncached and is not recorded. Raise the limit or remove old entries (each "
                  "<key>/ folder has a key.json saying what it holds).")
            return None
        return EntryWriter(entry, left)

    def _finish(self, recording, what, start, class_sha, generators):
        recording.finish(rng_state(), generators, class_sha, start)
        print(f"Replay cache: recorded {what} in {recording.final} "
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

    def inference_inputs(self, image, compute):
        """The backbone outputs of one evaluation call: recorded ones for a replayed
        ``EvaluationImage``, else ``compute(tensor)`` (recorded for a recording pass's)."""
        if not isinstance(image, EvaluationImage):
            return compute(image)
        if image.outputs is not None:
            return image.outputs
        outputs = compute(image.tensor)
        if self.evaluation_calls is not None:
            self.evaluation_calls[image.key] = {k: v.cpu().numpy() for k, v in outputs.items()}
        return outputs


class EvaluationPass:
    """An evaluation loader (no random views) whose backbone outputs are recorded, or replayed.

    An entry ``eval-<name>-<start>-<images>`` is keyed, beyond the cache key, by the random
    state the pass starts from and by the evaluated images (``image_stamps``: paths, labels,
    sizes and modification times of images and masks). The recording pass hands the loop its
    batches with the images under ``img`` / ``img_fg`` as ``EvaluationImage``s; the replaying
    one reads no image and hands the recorded labels and outputs, then sets the random state
    the recording pass ended in (a loader draws a seed when it starts).
    """

    def __init__(self, cache, trainer, name, loader):
        self.cache, self.trainer, self.name, self.loader = cache, trainer, name, loader

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        cache, what = self.cache, f"the evaluation pass {self.name}"
        class_sha = class_features_sha256(self.trainer)
        items = image_stamps(self.loader.dataset.data_source, self.trainer.cfg)
        start = state_digest(rng_state(), {})
        entry = os.path.join(cache.key_folder, f"eval-{self.name}-{start[:16]}-{key_digest(items)[:16]}")
        replay = cache._open(entry, what, lambda: EvaluationReplay(entry, start, class_sha, len(items)))
        if replay is not None:
            yield from replay
            restore_rng_state(replay.end_state)
            return
        recording = cache._start_recording(entry, what)
        try:
            for batch in self.loader:
                if recording is None:
                    yield batch
                    continue
                tagged = {k: EvaluationImage(k, tensor=v) if k in EVALUATION_IMAGES else v
                          for k, v in batch.items()}
                cache.evaluation_calls = {}
                yield tagged
                calls, cache.evaluation_calls = cache.evaluation_calls, None
                arrays = {f"{key}.{name}": array for key, outputs in calls.items()
                          for name, array in outputs.items()}
                arrays["label"] = batch["label"].cpu().numpy()
                try:
                    if set(calls) != set(EVALUATION_IMAGES) & set(batch):
                        raise ReplayEntryError("the loop did not evaluate every image of a batch")
                    recording.add(arrays)
                except ReplayEntryError as err:
                    print(f"Replay cache: stopped recording ({err}); {what} goes on uncached.")
                    recording.discard()
                    recording = None
        except BaseException:
            if recording is not None:
                recording.discard()
            raise
        finally:
            cache.evaluation_calls = None
        if recording is not None:
            cache._finish(recording, what, start, class_sha, {})


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
