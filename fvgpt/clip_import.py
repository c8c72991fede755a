"""Import the OpenAI ``clip`` package on any setuptools.

``clip/clip.py`` (openai/CLIP, clip-anytorch) does ``from pkg_resources import packaging``
only to compare version strings. setuptools 81 and later no longer ship ``pkg_resources``
(installing the real Dassl's requirements can upgrade setuptools), so on such a setuptools
``clip`` is imported once with a stand-in ``pkg_resources`` that holds just the ``packaging``
package, which is removed again right after. With ``pkg_resources`` present nothing changes.
"""
import importlib
import sys
import types


def import_clip():
    """The ``clip`` module (imported once per process)."""
    try:
        return importlib.import_module("clip")
    except ModuleNotFoundError as e:
        if e.name != "pkg_resources":
            raise
    import packaging.version  # noqa: F401  (clip uses packaging.version.parse)
    import packaging

    stand_in = types.ModuleType("pkg_resources")
    stand_in.packaging = packaging
    sys.modules["pkg_resources"] = stand_in
    try:
        return importlib.import_module("clip")
    finally:
        del sys.modules["pkg_resources"]
