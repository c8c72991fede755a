"""Shared pytest setup: repo root on sys.path, ``import fvgpt`` (makes ``dassl`` importable)."""
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import fvgpt  # noqa: E402,F401  (selects the Dassl engine and registers ``dassl``)
import torch  # noqa: E402
from clip.model import CLIP  # noqa: E402
from fvgpt.world.tiny_clip import TINY_CLIP  # noqa: E402

SMALL_CLIP = {**TINY_CLIP, "embed_dim": 64, "vision_layers": 1, "vision_width": 64,
              "vision_patch_size": 8, "transformer_layers": 1}


@pytest.fixture(scope="session")
def small_clip(tmp_path_factory):
    """A randomly initialised small CLIP (OpenAI's class, small widths) saved as a state dict:
    for tests of the pipeline, not of accuracy. Its images are 32 x 32."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("clip") / "small_clip.pt"
    torch.save(CLIP(**SMALL_CLIP).state_dict(), path)
    return str(path)


def real_dassl_environment():
    """Environment for a subprocess that uses the real Dassl found under ``$DASSL_PATH``.

    Skips the calling test when ``DASSL_PATH`` is unset or ``dassl`` does not import from it,
    and fails it instead when ``FVGPT_REQUIRE_REAL_DASSL=1`` (as in CI, ``.ci/run``). A plain
    function, so that a module-scoped fixture can call it (``real_dassl_env`` is the fixture).
    """
    not_available = pytest.fail if os.environ.get("FVGPT_REQUIRE_REAL_DASSL") == "1" else pytest.skip
    dassl_path = os.environ.get("DASSL_PATH")
    if not dassl_path:
        not_available("real-Dassl test: set DASSL_PATH to a Dassl.pytorch checkout (the folder "
                      "holding `dassl/`) and install "
                      "its requirements (`pip install -e '.[test]'`) to run it")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([dassl_path, REPO_ROOT])
    env["FVGPT_DASSL"] = "real"
    probe = subprocess.run(
        [sys.executable, "-c", "import dassl"], env=env, capture_output=True, text=True
    )
    if probe.returncode != 0:
        not_available(f"real Dassl is not importable from {dassl_path}: {probe.stderr.strip()[-300:]}")
    return env


@pytest.fixture
def real_dassl_env():
    """``real_dassl_environment()`` as a fixture."""
    return real_dassl_environment()


# A train.py run is mostly one core importing torch, Dassl and CLIP while pytest waits: on
# CI's two cores, two independent runs side by side take little longer than one.
# FVGPT_TEST_SIDE_BY_SIDE=1 runs them one after the other (on a machine busy with other work).
SIDE_BY_SIDE = int(os.environ.get("FVGPT_TEST_SIDE_BY_SIDE", 0)) or max(1, min(2, len(
    os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def side_by_side(calls):
    """Call each of ``calls`` (a dict: name -> function of no arguments, each running its own
    train.py processes in its own folders), ``SIDE_BY_SIDE`` at a time.

    Returns name -> ``Future``: a test calls ``.result()``, which gives the function's value
    or raises what it raised (a failed run's assertion, or a skip), in that test only.
    """
    with ThreadPoolExecutor(max_workers=SIDE_BY_SIDE) as pool:
        futures = {name: pool.submit(call) for name, call in calls.items()}
    return futures


@pytest.fixture(scope="session")
def world_root(tmp_path_factory):
    """FG-World generated once per test session (treat it as read-only; copy it to damage it)."""
    from fvgpt.world.generate import ensure_world
    root = tmp_path_factory.mktemp("world")
    ensure_world(str(root))
    return root


@pytest.fixture(scope="session")
def main_job_output(tmp_path_factory):
    """An --output folder for the main job's runs (scripts/world_benchmark.py's layout) on the
    session's FG-World, shared by the scripts that train those runs when missing
    (tests/test_world_regime.py, tests/test_world_diagnosis.py, both with the same tiny
    settings): the first to run trains them, the next finds them done."""
    return tmp_path_factory.mktemp("main_job")


def train_py_command(root, out, trainer, *opts, small_clip, seed=1, eval_only=None, flags=(),
                     dataset_config="configs/datasets/fg_world.yaml"):
    """The ``python train.py`` command line of a small FG-World run."""
    config = "CoOp" if trainer == "ZeroshotCLIP" else trainer  # as scripts/world_benchmark.py
    cmd = [sys.executable, "-u", "train.py", "--root", str(root), "--seed", str(seed),
           "--trainer", trainer, "--dataset-config-file", dataset_config,
           "--config-file", f"configs/trainers/{config}/world.yaml", "--output-dir", str(out)]
    if eval_only:
        cmd += ["--eval-only", "--model-dir", str(eval_only), "--load-epoch", "1"]
    return cmd + list(flags) + ["DATASET.NUM_SHOTS", "1", "OPTIM.MAX_EPOCH", "1", "TRAIN.PRINT_FREQ", "1",
                  "MODEL.BACKBONE.NAME", small_clip] + list(opts)


@pytest.fixture(scope="session")
def coop_run(world_root, small_clip, tmp_path_factory):
    """A finished 2-epoch CoOp run on FG-World's base classes (the backbone for FVG-PT tests)."""
    out = tmp_path_factory.mktemp("coop_run")
    cmd = train_py_command(world_root, out, "CoOp", "OPTIM.MAX_EPOCH", "2",
                           "DATASET.SUBSAMPLE_CLASSES", "base", small_clip=small_clip)
    done = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return out
