"""The OpenAI ``clip`` package fvgpt builds its models with: the installed one, always.

CoOp-family repositories ship their own modified ``clip/`` folder next to ``train.py``
(muzairkhattak/PromptSRC's ``clip/model.py`` has ``build_model(state_dict, design_details)``,
yunncheng/MMRL's adds ``model_mmrl.py``, htyao89/KgCoOp's is a copy), and Python puts the
script's folder first on ``sys.path``, so a plain ``import clip`` there gives the repository's
copy. fvgpt therefore takes ``clip`` from the installed distribution (clip-anytorch, or
openai/CLIP installed with pip). When ``import clip`` resolves to that installed package it is
used as is; when a repository's folder shadows it, the installed package is loaded a second
time under the private name ``PRIVATE_NAME`` (its relative imports follow), and the
repository's ``clip`` stays in ``sys.modules`` for the repository's own trainers.

The installed ``clip/clip.py`` does ``from pkg_resources import packaging`` only to compare
version strings. setuptools 81 and later no longer ship ``pkg_resources`` (installing the real
Dassl's requirements can upgrade setuptools), so on such a setuptools the package is imported
with a stand-in ``pkg_resources`` that holds just the ``packaging`` package, removed again
right after. The vendored ``clip/`` copies of the four upstream repositories do not import it.
"""
import importlib
import importlib.metadata
import importlib.util
import os
import re
import sys
import types

PRIVATE_NAME = "fvgpt_installed_clip"  # sys.modules name of the installed clip when shadowed
_LOADED = []  # the package, once imported
_SINGLE_ARGUMENT_BUILD = re.compile(r"def build_model\(\s*state_dict[^,)]*\)")


def _is_openai_clip(folder):
    """True for a ``clip/`` folder whose ``model.build_model`` takes the state dict alone."""
    try:
        with open(os.path.join(folder, "model.py")) as f:
            return bool(_SINGLE_ARGUMENT_BUILD.search(f.read()))
    except OSError:
        return False


def installed_clip_folder():
    """Folder of the installed ``clip`` package: from a distribution that provides ``clip``
    (pip metadata), else the first ``clip/`` on ``sys.path`` whose ``build_model`` takes the
    state dict alone (a source checkout of openai/CLIP). Raises ImportError naming the fix."""
    for dist in importlib.metadata.packages_distributions().get("clip", []):
        init = importlib.metadata.distribution(dist).locate_file(os.path.join("clip", "__init__.py"))
        if os.path.isfile(init) and _is_openai_clip(os.path.dirname(init)):
            return os.path.dirname(os.path.abspath(init))
    for entry in sys.path:
        folder = os.path.join(os.path.abspath(entry or os.getcwd()), "clip")
        if os.path.isfile(os.path.join(folder, "__init__.py")) and _is_openai_clip(folder):
            return folder
    raise ImportError(
        "fvgpt needs the OpenAI CLIP package installed (`pip install clip-anytorch`, or "
        "`pip install git+https://github.com/openai/CLIP`); a repository's own clip/ folder "
        "(PromptSRC's, MMRL's) is not used by fvgpt.")


def _without_pkg_resources_error(load):
    """Run ``load()``; when it fails only for lack of ``pkg_resources``, run it again with the
    stand-in described in the module docstring."""
    try:
        return load()
    except ModuleNotFoundError as e:
        if e.name != "pkg_resources":
            raise
    import packaging.version  # noqa: F401  (clip uses packaging.version.parse)
    import packaging

    stand_in = types.ModuleType("pkg_resources")
    stand_in.packaging = packaging
    sys.modules["pkg_resources"] = stand_in
    try:
        return load()
    finally:
        del sys.modules["pkg_resources"]


def _load_private(folder):
    """Import the package in ``folder`` as ``PRIVATE_NAME`` (leaves ``sys.modules['clip']`` alone)."""
    def load():
        for name in [n for n in sys.modules if n == PRIVATE_NAME or n.startswith(PRIVATE_NAME + ".")]:
            del sys.modules[name]  # a failed earlier attempt
        spec = importlib.util.spec_from_file_location(
            PRIVATE_NAME, os.path.join(folder, "__init__.py"), submodule_search_locations=[folder])
        module = importlib.util.module_from_spec(spec)
        sys.modules[PRIVATE_NAME] = module
        spec.loader.exec_module(module)
        return module
    return _without_pkg_resources_error(load)


def _same_file(a, b):
    return bool(a) and bool(b) and os.path.realpath(a) == os.path.realpath(b)


def import_clip():
    """The installed ``clip`` package (its ``clip``, ``model`` and ``simple_tokenizer``
    submodules imported), the same object on every call."""
    if _LOADED:
        return _LOADED[0]
    folder = installed_clip_folder()
    init = os.path.join(folder, "__init__.py")
    loaded = sys.modules.get("clip")
    found = None if loaded is not None else importlib.util.find_spec("clip")
    if _same_file(getattr(loaded, "__file__", None), init) or (found and _same_file(found.origin, init)):
        module = _without_pkg_resources_error(lambda: importlib.import_module("clip"))
    else:
        module = _load_private(folder)
    for sub in ("clip", "model", "simple_tokenizer"):
        importlib.import_module(f"{module.__name__}.{sub}")
    _LOADED.append(module)
    return module


clip = import_clip()
"""The installed ``clip`` package; fvgpt's modules use ``from .clip_import import clip``."""
