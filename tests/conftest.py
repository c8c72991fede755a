"""Shared pytest setup: repo root on sys.path, ``import fvgpt`` (makes ``dassl`` importable)."""
import os
import subprocess
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import fvgpt  # noqa: E402,F401  (selects the Dassl engine and registers ``dassl``)


@pytest.fixture
def real_dassl_env():
    """Environment for a subprocess that uses the real Dassl found under ``$DASSL_PATH``.

    Skips the test when ``DASSL_PATH`` is unset or ``dassl`` does not import from it, and
    fails instead when ``FVGPT_REQUIRE_REAL_DASSL=1`` (as in CI, ``.ci/run``).
    """
    not_available = pytest.fail if os.environ.get("FVGPT_REQUIRE_REAL_DASSL") == "1" else pytest.skip
    dassl_path = os.environ.get("DASSL_PATH")
    if not dassl_path:
        not_available("real-Dassl test: set DASSL_PATH to a Dassl.pytorch checkout (the folder "
                      "holding `dassl/`, e.g. ../shared/thirdparty/Dassl.pytorch) and install "
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
