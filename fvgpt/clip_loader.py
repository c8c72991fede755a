"""Load an OpenAI CLIP model by name (from a local cache) or from a local file.

No download ever happens: OpenAI model names resolve to the file name that the
``clip`` package's downloader would have written (``<cache>/<basename of URL>``,
e.g. ``ViT-B-16.pt``), looked up in ``MODEL.BACKBONE.CLIP_CACHE_DIR``,
``$FVGPT_CLIP_CACHE`` and ``~/.cache/clip`` (the ``clip`` package's default).
"""
import copy
import hashlib
import os
import zipfile

import torch

from .clip_import import clip

# Models that ship with fvgpt, by name (fvgpt/world/README.md says how each was made).
EMBEDDED_MODELS = {
    "TinyCLIP-World": os.path.join(os.path.dirname(__file__), "world", "assets", "tiny_clip_world.pt"),
}


def clip_cache_dirs(cache_dir=""):
    """Folders searched for named OpenAI checkpoints, in order."""
    dirs = [cache_dir, os.environ.get("FVGPT_CLIP_CACHE", ""),
            os.path.expanduser("~/.cache/clip")]
    return [d for d in dirs if d]


def resolve_clip_path(name, cache_dir=""):
    """Path of the checkpoint for ``name`` (an OpenAI or embedded model name, or a file path)."""
    if name in EMBEDDED_MODELS:
        path = EMBEDDED_MODELS[name]
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Embedded model {name} is missing at {path}; rebuild it with "
                                    f"`python scripts/pretrain_tiny_clip.py --out {path}`.")
        return path
    if name in clip.clip._MODELS:
        url = clip.clip._MODELS[name]
        candidates = [os.path.join(d, os.path.basename(url)) for d in clip_cache_dirs(cache_dir)]
        for path in candidates:
            if os.path.isfile(path):
                return path
        raise FileNotFoundError(
            f"CLIP weights for MODEL.BACKBONE.NAME={name!r} not found; looked for "
            f"{', '.join(candidates)}. On a machine with internet run "
            f"`python -c \"import clip; clip.load('{name}', download_root='DIR')\"` "
            f"(or download {url}), copy the file into one of those folders, or set "
            "MODEL.BACKBONE.NAME to the path of the .pt file."
        )
    if os.path.isfile(name):
        return name
    raise FileNotFoundError(
        f"MODEL.BACKBONE.NAME={name!r} is neither a model name "
        f"({', '.join(clip.available_models() + list(EMBEDDED_MODELS))}) nor an existing "
        "checkpoint file."
    )


def is_torchscript(path):
    """True for a TorchScript archive (it holds compiled code), False for a pickled state dict."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(n.endswith("/constants.pkl") for n in archive.namelist())


class LoadedModels:
    """CLIP models built before in this process, for runs that follow one another in it
    (``keep()``; off by default: a single run would only hold a second copy).

    Building a model draws torch's random numbers (its initialisation, then overwritten by the
    weights), and later draws (random crops) depend on them. So a model is reused only when
    the build would start from a random state it started from before: the random state is
    then set to the one that build ended in, and the run sees the numbers of a fresh build.
    """

    def __init__(self):
        self.active = False
        self.models = {}  # (path, size, mtime) -> the model as built (never handed out)
        self.rng_after = {}  # (path, size, mtime, random state before) -> random state after

    def keep(self):
        self.active = True

    def load(self, path, build):
        if not self.active:
            return build(path)
        st = os.stat(path)
        stamp = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
        key = (*stamp, hashlib.sha256(torch.get_rng_state().numpy().tobytes()).hexdigest())
        if stamp in self.models and key in self.rng_after:
            torch.set_rng_state(self.rng_after[key])
        else:
            model = build(path)
            if stamp not in self.models:
                self.models = {stamp: model}  # the newest file only
                self.rng_after = {}
            self.rng_after[key] = torch.get_rng_state()
        return copy.deepcopy(self.models[stamp])


LOADED = LoadedModels()


def load_clip(name, cache_dir=""):
    """Build a CLIP model on the CPU (fp16 weights, as OpenAI's ``build_model`` makes them)."""
    return LOADED.load(resolve_clip_path(name, cache_dir), _build_clip)


def _build_clip(path):
    try:
        if is_torchscript(path):  # OpenAI's released .pt files
            state_dict = torch.jit.load(path, map_location="cpu").state_dict()
        else:
            state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise RuntimeError(f"Cannot read CLIP checkpoint {path} ({e}). Replace it with an "
                           "OpenAI CLIP .pt file or a CLIP state dict.") from None
    if isinstance(state_dict, dict) and "state_dict" in state_dict:
        state_dict = state_dict["state_dict"]
    try:
        return clip.model.build_model(state_dict).eval()
    except (KeyError, RuntimeError) as e:
        raise RuntimeError(f"{path} is not a CLIP state dict ({e!r}).") from None


def set_precision(clip_model, prec, device):
    """Cast CLIP for ``TRAINER.*.PREC`` (fp16, fp32, amp) on ``device``."""
    if prec not in ("fp16", "fp32", "amp"):
        raise ValueError(f"Precision must be fp16, fp32 or amp, got {prec!r}")
    if prec == "fp16" and device.type == "cpu":
        print("Note: fp16 is not supported on the CPU; running CLIP in fp32.")
    if prec != "fp16" or device.type == "cpu":
        clip_model.float()
    return clip_model


def clip_from_config(cfg, prec, device):
    """CLIP named by ``MODEL.BACKBONE``, cast for ``prec`` and moved to ``device``."""
    model = load_clip(cfg.MODEL.BACKBONE.NAME, cfg.MODEL.BACKBONE.CLIP_CACHE_DIR)
    resolution = model.visual.input_resolution
    if list(cfg.INPUT.SIZE) != [resolution, resolution]:
        raise ValueError(
            f"INPUT.SIZE = {tuple(cfg.INPUT.SIZE)} but the CLIP MODEL.BACKBONE.NAME="
            f"{cfg.MODEL.BACKBONE.NAME!r} takes {resolution} x {resolution} images: set "
            f"INPUT.SIZE ({resolution}, {resolution}) (as the backbone run did).")
    return set_precision(model, prec, device).to(device)
