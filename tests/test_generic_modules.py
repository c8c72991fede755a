"""The run machinery any Dassl trainer uses knows nothing of FVG-PT.

Exact resume, the run record (``result.json``), run folders, checkpoint files, training-image
hashes and image-read errors serve every trainer; FVG-PT's masks, foreground views and D_fg
build on them, never the other way round. Imports are read from the source with ``ast`` and
followed through fvgpt's own modules, so a generic module that reaches FVG-PT through another
module fails too.
"""
import ast
import os

import pytest

FVGPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fvgpt")
GENERIC = ["resume", "run_record", "run_folder", "checkpoints", "results", "built_on",
           "training_images", "images"]
FVGPT_SPECIFIC = ["masks", "masked_data", "foreground_shift", "modules", "losses", "replay",
                  "trainer", "trainers", "make_masks", "check_masks"]


def source(module):
    """The file of ``fvgpt.<module>`` (dotted, e.g. ``world.tiny_clip``), or None."""
    path = os.path.join(FVGPT, *module.split("."))
    for candidate in (path + ".py", os.path.join(path, "__init__.py")):
        if os.path.isfile(candidate):
            return candidate
    return None


def imported(module):
    """fvgpt's modules that ``fvgpt.<module>`` imports anywhere in its file (dotted names)."""
    path = source(module)
    package = module.split(".")[:-1] if not path.endswith("__init__.py") else module.split(".")
    found = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.ImportFrom):
            parts = node.module.split(".") if node.module else []
            if node.level:
                target = package[:len(package) - node.level + 1] + parts
            elif parts[:1] == ["fvgpt"]:
                target = parts[1:]
            else:
                continue
            for alias in node.names:  # ``from . import run_folder`` names a module
                as_module = ".".join(target + [alias.name])
                found.add(as_module if source(as_module) else ".".join(target))
        elif isinstance(node, ast.Import):
            found.update(".".join(a.name.split(".")[1:]) for a in node.names
                         if a.name.split(".")[0] == "fvgpt")
    return found


def reached(module):
    """Every fvgpt module that importing ``fvgpt.<module>`` runs, itself included."""
    seen, todo = {module}, [module]
    while todo:
        for name in imported(todo.pop()) - seen:
            seen.add(name)
            todo.append(name)
    return seen


def reads_fvgpt_config(module):
    """Whether ``fvgpt.<module>``'s code reads a ``TRAINER.FVGPT`` key (messages do not count)."""
    tree = ast.parse(open(source(module)).read())
    return any(isinstance(n, ast.Attribute) and n.attr == "FVGPT"
               and isinstance(n.value, ast.Attribute) and n.value.attr == "TRAINER"
               for n in ast.walk(tree))


@pytest.mark.parametrize("module", GENERIC)
def test_a_generic_module_reaches_no_fvgpt_specifics(module):
    reached_specific = {m for m in reached(module) if m.split(".")[0] in FVGPT_SPECIFIC}
    assert not reached_specific, f"fvgpt.{module} imports FVG-PT's {sorted(reached_specific)}"
    readers = [m for m in reached(module) if reads_fvgpt_config(m)]
    assert not readers, f"fvgpt.{module} reads TRAINER.FVGPT keys (in {readers})"


def test_fvgpt_data_builds_on_the_generic_image_wrapper():
    assert {"images", "masks"} <= imported("masked_data")
    assert "masked_data" not in reached("images")
    # D_fg is FVG-PT's: it reaches mask data and reads TRAINER.FVGPT.TAU
    assert {"masked_data", "losses"} <= imported("foreground_shift")
    assert reads_fvgpt_config("foreground_shift")
