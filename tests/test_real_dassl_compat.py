"""Checks against the real Dassl, found in ``$DASSL_PATH`` (skipped when it is not set/importable).

Each check runs in a fresh interpreter (``real_dassl_env`` in conftest.py), since a process
can hold only one ``dassl``.
"""
import json
import math
import os
import subprocess
import sys

import pytest

WARMUP_SCRIPT = r"""
import inspect, json, os
import torch
import fvgpt
from fvgpt import dassl_backend
import dassl
from dassl.config import get_cfg_default
from dassl.optim import build_optimizer, build_lr_scheduler
from dassl.optim.lr_scheduler import ConstantWarmupScheduler, _BaseWarmupScheduler

cfg = get_cfg_default()
cfg.OPTIM.NAME, cfg.OPTIM.LR, cfg.OPTIM.MAX_EPOCH, cfg.OPTIM.LR_SCHEDULER = "sgd", 0.0035, 10, "cosine"
cfg.OPTIM.WARMUP_EPOCH, cfg.OPTIM.WARMUP_TYPE, cfg.OPTIM.WARMUP_CONS_LR = 1, "constant", 1e-5
optimizer = build_optimizer(torch.nn.Linear(2, 2), cfg.OPTIM)
scheduler = build_lr_scheduler(optimizer, cfg.OPTIM)
lrs = []
for _ in range(4):
    lrs.append(optimizer.param_groups[0]["lr"])
    optimizer.step()
    scheduler.step()

patched_init = _BaseWarmupScheduler.__init__
torch_base = _BaseWarmupScheduler.__bases__[0]
dassl_backend._patch_real_warmup_scheduler()
print(json.dumps({
    "engine": dassl_backend.engine_name(),
    "dassl_file": dassl.__file__,
    "scheduler": type(scheduler).__name__,
    "is_dassl_class": isinstance(scheduler, ConstantWarmupScheduler),
    "lrs": lrs,
    "patched": getattr(patched_init, "_fvgpt_without_verbose", False),
    "torch_takes_verbose": "verbose" in inspect.signature(torch_base.__init__).parameters,
    "idempotent": _BaseWarmupScheduler.__init__ is patched_init,
}))
"""

# Same code under both engines; prints facts that must agree.
PARITY_SCRIPT = r"""
import contextlib, io, json, os, random, sys, tempfile, warnings
warnings.simplefilter("ignore")
import numpy as np, torch
from PIL import Image
import fvgpt
import dassl
from dassl.config import get_cfg_default
from dassl.data.datasets import Datum, DatasetBase
from dassl.data.transforms import build_transform
from dassl.evaluation import build_evaluator
from dassl.optim import build_optimizer, build_lr_scheduler

facts = {"engine": fvgpt.dassl_backend.engine_name(), "dassl_file": dassl.__file__}

def lrs(**optim):
    cfg = get_cfg_default()
    for key, value in optim.items():
        setattr(cfg.OPTIM, key, value)
    optimizer = build_optimizer(torch.nn.Linear(2, 2), cfg.OPTIM)
    scheduler = build_lr_scheduler(optimizer, cfg.OPTIM)
    out = []
    for _ in range(cfg.OPTIM.MAX_EPOCH + 1):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return out

facts["lr_constant_cosine"] = lrs(NAME="sgd", LR=0.0035, MAX_EPOCH=10, LR_SCHEDULER="cosine",
                                  WARMUP_EPOCH=1, WARMUP_TYPE="constant")
facts["lr_linear_cosine_no_recount"] = lrs(NAME="adamw", LR=0.002, MAX_EPOCH=6, LR_SCHEDULER="cosine",
                                           WARMUP_EPOCH=2, WARMUP_TYPE="linear", WARMUP_RECOUNT=False)
facts["lr_single_step"] = lrs(NAME="adam", LR=0.1, MAX_EPOCH=5, STEPSIZE=(2,))

folder = tempfile.mkdtemp()
items = []
for i in range(20):
    path = os.path.join(folder, f"{i}.png")
    Image.fromarray(np.full((10 + i % 3, 13, 3), 12 * i, dtype=np.uint8)).save(path)
    items.append(Datum(impath=path, label=i % 4, classname=f"c{i % 4}"))
dataset = DatasetBase(train_x=items, test=items)
random.seed(7)
with contextlib.redirect_stdout(io.StringIO()):
    fewshot = dataset.generate_fewshot_dataset(items, num_shots=3)
    train, val = dataset.generate_fewshot_dataset(items, items[:6], num_shots=4, repeat=True)
facts["fewshot"] = [os.path.basename(d.impath) for d in fewshot]
facts["fewshot_repeat"] = [[os.path.basename(d.impath) for d in part] for part in (train, val)]

cfg = get_cfg_default()
cfg.INPUT.SIZE, cfg.INPUT.INTERPOLATION, cfg.INPUT.RRCROP_SCALE = (8, 8), "bicubic", (0.5, 1.0)
image = Image.open(items[5].impath).convert("RGB")
for choices in (["random_resized_crop", "random_flip", "normalize"], ["random_crop", "random_translation"]):
    with contextlib.redirect_stdout(io.StringIO()):
        train_tfm, test_tfm = build_transform(cfg, True, choices), build_transform(cfg, False, choices)
    torch.manual_seed(3)
    random.seed(3)
    a, b = train_tfm(image), test_tfm(image)
    facts["+".join(choices)] = [list(a.shape), round(float(a.sum()), 4),
                                list(b.shape), round(float(b.sum()), 4)]

torch.manual_seed(0)
logits, labels = torch.randn(40, 6), torch.randint(0, 6, (40,))
with contextlib.redirect_stdout(io.StringIO()) as printed:
    evaluator = build_evaluator(cfg, lab2cname={i: str(i) for i in range(6)})
    evaluator.process(logits, labels)
    results = evaluator.evaluate()
facts["evaluation"] = {k: round(float(v), 6) for k, v in results.items()}
facts["evaluation_printed"] = printed.getvalue()
print(json.dumps(facts))
"""


def run_script(script, env):
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_warmup_scheduler_fix_lets_real_dassl_build_the_fvgpt_schedule(real_dassl_env):
    facts = run_script(WARMUP_SCRIPT, real_dassl_env)

    assert facts["engine"] == "real"
    assert "lite_dassl" not in facts["dassl_file"]
    assert facts["scheduler"] == "ConstantWarmupScheduler" and facts["is_dassl_class"]
    expected = [1e-5] + [0.0035 * (1 + math.cos(math.pi * t / 10)) / 2 for t in range(3)]
    assert facts["lrs"] == pytest.approx(expected, rel=1e-12)
    assert facts["patched"] == (not facts["torch_takes_verbose"])  # patched only when torch needs it
    assert facts["idempotent"]


def test_builtin_engine_matches_real_dassl(real_dassl_env):
    real = run_script(PARITY_SCRIPT, real_dassl_env)
    # FVGPT_DASSL=builtin wins even with the real Dassl on the path
    builtin = run_script(PARITY_SCRIPT, dict(real_dassl_env, FVGPT_DASSL="builtin"))

    assert (real["engine"], builtin["engine"]) == ("real", "builtin")
    assert "lite_dassl" in builtin.pop("dassl_file") and "lite_dassl" not in real.pop("dassl_file")
    for key in real:
        if key != "engine":
            assert builtin[key] == real[key], key


CHECKPOINT_SCRIPT = r"""
import sys, torch
import fvgpt
from dassl.config import get_cfg_default
from dassl.engine import trainer as dassl_trainer
from dassl.optim import build_optimizer, build_lr_scheduler
from dassl.utils import save_checkpoint

cfg = get_cfg_default()
cfg.OPTIM.NAME, cfg.OPTIM.LR_SCHEDULER, cfg.OPTIM.WARMUP_EPOCH = "sgd", "cosine", 1
cfg.OPTIM.WARMUP_TYPE = "constant"
model = torch.nn.Linear(2, 2)
optimizer = build_optimizer(model, cfg.OPTIM)
scheduler = build_lr_scheduler(optimizer, cfg.OPTIM)
save_checkpoint({"state_dict": model.state_dict(), "epoch": 1, "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict(), "val_result": None}, sys.argv[1])
checkpoint = dassl_trainer.load_checkpoint(sys.argv[1] + "/model.pth.tar-1")
print("loaded epoch", checkpoint["epoch"])
"""


def test_dassl_loads_its_own_warmup_checkpoints(real_dassl_env, tmp_path):
    """Dassl's checkpoints pickle the warm-up scheduler; torch >= 2.6 refuses them unless fixed."""
    run = subprocess.run([sys.executable, "-c", CHECKPOINT_SCRIPT, str(tmp_path)],
                         env=real_dassl_env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "loaded epoch 1" in run.stdout


def test_every_reader_passes_its_fixture_tests_under_real_dassl(real_dassl_env):
    """tests/test_dataset_readers.py again, in a process where ``dassl`` is the real package."""
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_dataset_readers.py",
         "tests/test_check_masks.py"],
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        env=real_dassl_env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:]
    assert " passed" in run.stdout and "failed" not in run.stdout
