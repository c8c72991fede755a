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


def test_sweeps_run_trains_the_toy_then_fvgpt_on_it_and_tests_both_on_new_classes(toy_repo, world_root,
                                                                                   small_clip, tmp_path):
    """``python -m sweeps.run base2new --backbones ResidualText`` on FG-World: the record's
    config per protocol is the only thing the planner needs."""
    out = run(toy_repo, "-m", "sweeps.run", "base2new", "--root", str(world_root), "--output",
              str(tmp_path / "sweep"), "--backbones", "ResidualText", "--datasets", "fg_world",
              "--seeds", "1", "--shots", "1", "--replay-cache", "",
              "--opts", "OPTIM.MAX_EPOCH", "1", "MODEL.BACKBONE.NAME", small_clip)
    for stage, trainer in [("train_base", "ResidualText"), ("test_new", "ResidualText"),
                           ("train_base", "FVGPT_ResidualText"), ("test_new", "FVGPT_ResidualText")]:
        folder = tmp_path / "sweep" / stage / "fg_world" / "shots_1" / trainer / "world" / "seed1"
        assert (folder / "result.json").is_file(), out[-2000:]


def test_the_fg_world_job_plans_and_runs_the_toy(toy_repo, world_root, small_clip, tmp_path):
    """The main job's world plan with ResidualText: its base and new runs, alone and with
    FVG-PT, each finished with a result (accuracy and D_fg on base)."""
    script = (
        "import sys; from sweeps.plan import expand, world_sweep; "
        "from sweeps.watch import Progress, run_watched; "
        f"sweep = world_sweep({str(world_root)!r}, {str(tmp_path / 'world')!r}, 0, ['ResidualText'], [1], "
        f"opts=['OPTIM.MAX_EPOCH', '1', 'MODEL.BACKBONE.NAME', {small_clip!r}], shots=1); "
        "progress = Progress(['ResidualText', 'FVGPT_ResidualText'], [1]); "
        "[print(r.trainer, r.split, run_watched(sweep, r, progress)['d_fg'] is not None) "
        "for r in expand(sweep)]")
    out = run(toy_repo, "-c", script)
    assert [line.split()[-3:] for line in out.splitlines() if line.endswith(("True", "False"))] == [
        ["ResidualText", "base", "True"], ["ResidualText", "new", "False"],
        ["FVGPT_ResidualText", "base", "True"], ["FVGPT_ResidualText", "new", "False"]]


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
