"""A fifth backbone joins the way docs/adding_a_backbone.md says: one adapter file, one trainer
file, its configs and one registry record, in a copy of this repository. Nothing else changes,
and FVGPT_<name> exists and runs on it."""
import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY = os.path.join(REPO, "tests", "toy_backbone")


def skipped(folder, names):
    """Not copied: git's store, caches, and the repository's own data/ and output/."""
    top = ("data", "output") if os.path.samefile(folder, REPO) else ()
    return [n for n in names if n in (".git", "__pycache__", ".pytest_cache", *top) or n.endswith(".egg-info")]


def add_toy_backbone(repo):
    """The four steps of docs/adding_a_backbone.md, for ResidualText."""
    shutil.copy(os.path.join(TOY, "residual_text.py"), os.path.join(repo, "fvgpt", "backbones"))
    shutil.copy(os.path.join(TOY, "trainer.py"), os.path.join(repo, "trainers", "residual_text.py"))
    for trainer in ("ResidualText", "FVGPT_ResidualText"):
        shutil.copytree(os.path.join(TOY, "configs", trainer), os.path.join(repo, "configs", "trainers", trainer))
    registry = os.path.join(repo, "fvgpt", "backbones", "registry.py")
    with open(registry) as f:
        text = f.read().replace("from . import coop, kgcoop, mmrl, promptsrc",
                                "from . import coop, kgcoop, mmrl, promptsrc, residual_text")
    with open(os.path.join(TOY, "registry_entry.py")) as f:
        text += "\n" + f.read()
    with open(registry, "w") as f:
        f.write(text)


@pytest.fixture(scope="module")
def toy_repo(tmp_path_factory):
    """A copy of this repository with ResidualText added; its ``fvgpt`` shadows the installed one
    for every command run from it."""
    repo = str(tmp_path_factory.mktemp("toy") / "repo")
    shutil.copytree(REPO, repo, ignore=skipped)
    add_toy_backbone(repo)
    return repo


def run(repo, *args):
    done = subprocess.run([sys.executable, *args], cwd=repo, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": repo})
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return done.stdout


def test_the_registry_lists_the_fifth_backbone_and_its_fvgpt_trainer(toy_repo):
    out = run(toy_repo, "-c", "import fvgpt; from dassl.engine import TRAINER_REGISTRY; "
              "from fvgpt.backbones.registry import BACKBONES; print(list(BACKBONES)); "
              "print('FVGPT_ResidualText' in TRAINER_REGISTRY.registered_names())")
    assert out.split("\n")[:2] == ["['CoOp', 'KgCoOp', 'PromptSRC', 'MMRL', 'ResidualText']", "True"]


def test_train_py_trains_the_toy_and_fvgpt_on_it(toy_repo, world_root, small_clip, tmp_path):
    """Backbone run, then FVG-PT on it, then FVG-PT evaluated on the new classes."""
    common = ["--root", str(world_root), "--seed", "1", "--dataset-config-file",
              "configs/datasets/fg_world.yaml"]
    small = ["DATASET.NUM_SHOTS", "1", "OPTIM.MAX_EPOCH", "1", "MODEL.BACKBONE.NAME", small_clip]
    backbone, head = tmp_path / "residual_text", tmp_path / "fvgpt"
    run(toy_repo, "train.py", *common, "--trainer", "ResidualText", "--config-file",
        "configs/trainers/ResidualText/world.yaml", "--output-dir", str(backbone), *small,
        "DATASET.SUBSAMPLE_CLASSES", "base")
    out = run(toy_repo, "train.py", *common, "--trainer", "FVGPT_ResidualText", "--config-file",
              "configs/trainers/FVGPT_ResidualText/world.yaml", "--output-dir", str(head), *small,
              "DATASET.SUBSAMPLE_CLASSES", "base", "TRAINER.FVGPT.BACKBONE_DIR", str(backbone))
    assert "Frozen backbone loaded from" in out and (head / "result.json").is_file()
    out = run(toy_repo, "train.py", *common, "--trainer", "FVGPT_ResidualText", "--config-file",
              "configs/trainers/FVGPT_ResidualText/world.yaml", "--output-dir", str(tmp_path / "new"),
              "--eval-only", "--model-dir", str(head), *small, "DATASET.SUBSAMPLE_CLASSES", "new")
    assert "Test-time branch: pc" in out and "* accuracy" in out


def test_the_efficiency_benchmark_times_the_toy_and_fvgpt_on_it(toy_repo):
    """Its rows come from the record alone: the toy's own loss on its trainable W (512 x 512 at
    the ViT-B/16 shape), FVG-PT's head on the frozen toy."""
    out = run(toy_repo, "scripts/benchmark_efficiency.py", "--backbone", "ResidualText",
              "--device", "cpu", "--batch-size", "1", "--test-batch-size", "1", "--classes", "2",
              "--iters", "1", "--warmup", "0")
    rows = [line.split()[0:3] for line in out.splitlines()]
    assert ["ResidualText", "tuning"] in [r[:2] for r in rows]
    assert ["FVG-PT", "inference", "new"] in rows
    assert "learnable parameters: ResidualText 262,144, FVG-PT 132,546" in out
