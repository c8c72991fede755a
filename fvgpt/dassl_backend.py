"""Choose the Dassl engine: the real Dassl package, or fvgpt's built-in subset.

``ensure_dassl()`` reads the environment variable ``FVGPT_DASSL``:

- ``auto`` (default): the real Dassl when ``import dassl`` works, else the built-in engine;
- ``builtin``: always the built-in engine (``fvgpt.lite_dassl``), even if Dassl is installed;
- ``real``: the real Dassl, or an ImportError saying how to install it.

For the built-in engine, every module of ``fvgpt.lite_dassl`` is imported and registered
in ``sys.modules`` under its ``dassl.*`` name, so ``from dassl.engine import TrainerX``
returns the built-in class and no module exists twice. For the real Dassl, one
compatibility fixes are applied where the installed torch needs them (see
``_patch_real_warmup_scheduler`` and ``_patch_real_checkpoint_loading``). The choice is made
once per process; later calls return it. Nothing is printed.
"""
import importlib
import inspect
import os
import pkgutil
import sys

ENV_VAR = "FVGPT_DASSL"
MODES = ("auto", "builtin", "real")

ACTIVE_ENGINE = None  # "real" or "builtin" once ensure_dassl() has run
_REAL_IMPORT_ERROR = None  # why the real Dassl could not be imported, if it could not

_INSTALL_HINT = (
    "Dassl is not on PyPI; install it from source: "
    "git clone https://github.com/KaiyangZhou/Dassl.pytorch && cd Dassl.pytorch && "
    "pip install -r requirements.txt && python setup.py develop "
    f"(or unset {ENV_VAR} / set {ENV_VAR}=builtin to use fvgpt's built-in engine)"
)


def engine_name():
    """The active engine ("real" or "builtin"), or None before ensure_dassl() has run."""
    return ACTIVE_ENGINE


def engine_description():
    """The active engine and the folder it is imported from, e.g. ``real (/src/Dassl.pytorch/dassl)``."""
    dassl = sys.modules.get("dassl")
    where = os.path.dirname(getattr(dassl, "__file__", "") or "?")
    return f"{ACTIVE_ENGINE} ({where})"


def selected_mode():
    """The mode requested by ``FVGPT_DASSL`` ("auto" when unset); ValueError for anything else."""
    mode = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if mode not in MODES:
        raise ValueError(f"{ENV_VAR} must be one of {MODES}, got {mode!r}")
    return mode


def ensure_dassl():
    """Make ``import dassl`` resolve to the engine selected by ``FVGPT_DASSL``; return its name."""
    global ACTIVE_ENGINE
    if ACTIVE_ENGINE is not None:
        return ACTIVE_ENGINE

    mode = selected_mode()
    if mode == "builtin":
        _install_builtin()
        ACTIVE_ENGINE = "builtin"
    elif _real_dassl_importable():
        _patch_real_warmup_scheduler()
        _patch_real_checkpoint_loading()
        ACTIVE_ENGINE = "real"
    elif mode == "real":
        raise ImportError(
            f"{ENV_VAR}=real but the dassl package cannot be imported ({_REAL_IMPORT_ERROR}). {_INSTALL_HINT}"
        )
    else:
        _install_builtin()
        ACTIVE_ENGINE = "builtin"
    return ACTIVE_ENGINE


def _real_dassl_importable():
    """True if ``import dassl`` gives a regular package (not a stray ``dassl/`` namespace folder)."""
    global _REAL_IMPORT_ERROR
    try:
        import dassl
    except ImportError as err:
        _REAL_IMPORT_ERROR = err
        return False
    if getattr(dassl, "__file__", None) is None:
        del sys.modules["dassl"]
        _REAL_IMPORT_ERROR = ImportError(
            f"'dassl' resolves to a folder without __init__.py: {list(dassl.__path__)}"
        )
        return False
    return True


def _install_builtin():
    """Import every ``fvgpt.lite_dassl`` module and alias it as ``dassl.<same path>``."""
    existing = sys.modules.get("dassl")
    if existing is not None and getattr(existing, "__name__", "") != "fvgpt.lite_dassl":
        raise RuntimeError(
            f"The real Dassl is already imported (from {getattr(existing, '__file__', '?')}), "
            f"so the built-in engine cannot replace it; set {ENV_VAR} before anything imports dassl"
        )

    from . import lite_dassl

    prefix = lite_dassl.__name__
    modules = {"dassl": lite_dassl}
    for info in pkgutil.walk_packages(lite_dassl.__path__, prefix + "."):
        modules["dassl" + info.name[len(prefix):]] = importlib.import_module(info.name)
    sys.modules.update(modules)


def _patch_real_warmup_scheduler():
    """Let Dassl's warm-up schedulers run on a torch whose LRScheduler has no ``verbose``.

    Dassl passes ``verbose`` positionally to ``_LRScheduler.__init__``, which recent torch
    rejects with a TypeError. Only when the installed torch lacks the argument,
    ``_BaseWarmupScheduler.__init__`` is replaced by one that does not pass it (once).
    """
    warmup_cls = importlib.import_module("dassl.optim.lr_scheduler")._BaseWarmupScheduler
    if getattr(warmup_cls.__init__, "_fvgpt_without_verbose", False):
        return
    torch_base = warmup_cls.__bases__[0]  # torch's _LRScheduler
    if "verbose" in inspect.signature(torch_base.__init__).parameters:
        return

    def __init__(self, optimizer, successor, warmup_epoch, last_epoch=-1, verbose=False):
        self.successor = successor
        self.warmup_epoch = warmup_epoch
        super(warmup_cls, self).__init__(optimizer, last_epoch)

    __init__._fvgpt_without_verbose = True
    warmup_cls.__init__ = __init__


def _patch_real_checkpoint_loading():
    """Let Dassl load its own checkpoints on a torch whose ``torch.load`` is weights-only.

    From torch 2.6 ``torch.load`` refuses pickled objects by default, and Dassl's
    checkpoints hold the warm-up scheduler's successor object, so resuming, best-val
    deployment and ``load_model`` fail. Only on such a torch, ``load_checkpoint`` is
    replaced by one that loads with ``weights_only=False`` (these are the user's own
    training outputs) in every loaded module that holds Dassl's function: the ``dassl``
    modules and also modules imported before ``fvgpt`` that did
    ``from dassl.utils import load_checkpoint`` (e.g. a CoOp trainer), so import order
    does not matter.
    """
    import torch

    torchtools = importlib.import_module("dassl.utils.torchtools")
    original = torchtools.load_checkpoint
    major, minor = (int(v) for v in torch.__version__.split(".")[:2])
    if getattr(original, "_fvgpt_full_pickle", False) or (major, minor) < (2, 6):
        return
    importlib.import_module("dassl.engine")

    def load_checkpoint(fpath):
        if fpath is None:
            raise ValueError("File path is None")
        if not os.path.exists(fpath):
            raise FileNotFoundError(f'File is not found at "{fpath}"')
        map_location = None if torch.cuda.is_available() else "cpu"
        return torch.load(fpath, map_location=map_location, weights_only=False)

    load_checkpoint._fvgpt_full_pickle = True
    load_checkpoint.__doc__ = original.__doc__
    for module in list(sys.modules.values()):
        namespace = getattr(module, "__dict__", {})  # its own names; no lazy __getattr__ hook runs
        if namespace.get("load_checkpoint") is original:
            module.load_checkpoint = load_checkpoint
