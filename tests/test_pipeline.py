"""Base-to-new through train.py on the generated FG-World: CoOp, then FVG-PT on top of it.

A randomly initialised small CLIP (the OpenAI CLIP class with small widths) stands in
for real weights: these tests check the pipeline, not accuracy.
"""
import functools
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import torch
from PIL import Image

from conftest import real_dassl_environment, side_by_side
from fixture_trees import build_authors_tree, build_tree
from fvgpt.masks import FIXES

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = ["DATASET.NUM_SHOTS", "2", "OPTIM.MAX_EPOCH", "1", "TRAIN.PRINT_FREQ", "1"]


@pytest.fixture(scope="module")
def world(world_root):
    """The session's FG-World (read-only here; ``world_copy`` below for damaging it)."""
    return world_root


def train(root, out, trainer, *opts, small_clip, seed=1, check=True, eval_only=None, env=None,
          dataset_config="configs/datasets/fg_world.yaml"):
    """Run ``python train.py`` as a user would; returns its stdout + stderr."""
    config = f"configs/trainers/{trainer}/world.yaml"
    cmd = [sys.executable, "train.py", "--root", str(root), "--seed", str(seed),
           "--trainer", trainer, "--dataset-config-file", dataset_config,
           "--config-file", config, "--output-dir", str(out)]
    if eval_only:
        cmd += ["--eval-only", "--model-dir", str(eval_only), "--load-epoch", "1"]
    cmd += FAST + ["MODEL.BACKBONE.NAME", small_clip] + list(opts)
    run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
    log = run.stdout + run.stderr
    if check:
        assert run.returncode == 0, log[-3000:]
    return log if check else (run.returncode, log)


def accuracy(log):
    return float(re.findall(r"\* accuracy: ([\d.]+)%", log)[-1])


@pytest.fixture(scope="module")
def coop_base(world, small_clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("coop_base")
    log = train(world, out, "CoOp", "DATASET.SUBSAMPLE_CLASSES", "base", small_clip=small_clip)
    assert os.path.isfile(out / "prompt_learner" / "model.pth.tar-1")
    return out, log


def fvgpt(world, coop_dir, out, *opts, small_clip, **kw):
    return train(world, out, "FVGPT_CoOp", "TRAINER.FVGPT.BACKBONE_DIR", str(coop_dir),
                 *opts, small_clip=small_clip, **kw)


@pytest.fixture(scope="module")
def fvgpt_base(world, small_clip, coop_base, tmp_path_factory):
    """FVG-PT trained on ``coop_base`` (base classes, D_fg measured): its folder and log."""
    out = tmp_path_factory.mktemp("fvgpt_base")
    return out, fvgpt_base_run(world, coop_base[0], out, small_clip)


def fvgpt_base_run(world, coop_dir, out, small_clip):
    return fvgpt(world, coop_dir, out, "DATASET.SUBSAMPLE_CLASSES", "base",
                 "TEST.FOREGROUND_SHIFT_INDEX", "True", small_clip=small_clip)


def test_coop_then_fvgpt_then_new_class_eval(world, small_clip, coop_base, fvgpt_base, tmp_path):
    """CoOp, FVG-PT on it (its parameter count, z_FDC on the training classes, D_fg, a saved
    head), then the head on the new classes (z_PC) and on the base classes again (same number)."""
    coop_dir, coop_log = coop_base
    assert "* accuracy" in coop_log
    base_out, log = fvgpt_base
    # D = 64, adapter 64, gates 32: 2 * (64*64 + 64 + 64*64 + 64) + 2 * 161
    assert "# FVG-PT learnable parameters: 16,962" in log
    assert "Test-time branch: fdc" in log
    assert re.search(r"\* foreground shift index D_fg: [\d.]+", log)
    assert os.path.isfile(base_out / "fvgpt_head" / "model.pth.tar-1")
    base_acc = accuracy(log)

    new_log = fvgpt(world, coop_dir, tmp_path / "fvgpt_new", "DATASET.SUBSAMPLE_CLASSES", "new",
                    small_clip=small_clip, eval_only=base_out)
    assert "Test-time branch: pc" in new_log
    assert 0.0 <= accuracy(new_log) <= 100.0 and 0.0 <= base_acc <= 100.0

    reloaded = fvgpt(world, coop_dir, tmp_path / "fvgpt_base_again", "DATASET.SUBSAMPLE_CLASSES",
                     "base", small_clip=small_clip, eval_only=base_out)
    assert accuracy(reloaded) == base_acc  # the saved head reproduces the trained one


def test_same_seed_same_numbers(world, small_clip, coop_base, fvgpt_base, tmp_path):
    """The same FVG-PT command run again: the same losses and the same saved head."""
    runs = [fvgpt_base, (tmp_path / "again", fvgpt_base_run(world, coop_base[0], tmp_path / "again",
                                                            small_clip))]
    losses = [re.findall(r"loss [\d.]+ \(([\d.]+)\)", log) for _, log in runs]
    assert losses[0] and losses[0] == losses[1]
    heads = [torch.load(out / "fvgpt_head" / "model.pth.tar-1", weights_only=False)["state_dict"]
             for out, _ in runs]
    assert all(torch.equal(heads[0][k], heads[1][k]) for k in heads[0])


@pytest.fixture
def world_copy(world, tmp_path):
    """A private copy of the world that a test may damage."""
    root = tmp_path / "data"
    shutil.copytree(world, root, ignore=shutil.ignore_patterns("split_fewshot"))
    return root


def first_training_mask(root, world):
    """The mask of a training image of seed 1's 2-shot split in the copy ``root`` of ``world``:
    the copy gets the world's few-shot cache (``coop_base`` wrote it), as a copied data folder
    would, so its runs train on the images it names."""
    import pickle
    cache = os.path.join("fg_world", "split_fewshot", "shot_2-seed_1.pkl")
    os.makedirs(root / os.path.dirname(cache))
    shutil.copy(world / cache, root / cache)
    with open(root / cache, "rb") as f:
        image = os.path.relpath(pickle.load(f)["train"][0].impath, world)
    return str(root / image), str(root / "mask" / image)


def test_missing_mask_or_another_aspect_ratio_is_named(world, world_copy, small_clip, coop_base, tmp_path):
    """FVG-PT on a copy of the world with a training image's mask deleted, then stretched:
    each stops, naming the mask and the fix; MISSING_MASK full fills in only missing masks."""
    coop_dir, _ = coop_base
    opts = ("DATASET.SUBSAMPLE_CLASSES", "base")
    image, mask = first_training_mask(world_copy, world)
    os.remove(mask)
    code, log = fvgpt(world_copy, coop_dir, tmp_path / "missing", *opts,
                      small_clip=small_clip, check=False)
    assert code != 0 and "missing mask(s): 1" in log and mask in log
    assert FIXES["missing"] in log and FIXES["empty"] not in log

    Image.new("L", (17, 9), 255).save(mask)
    code, log = fvgpt(world_copy, coop_dir, tmp_path / "stretched", *opts,
                      small_clip=small_clip, check=False)
    assert code != 0 and "another aspect ratio than their image: 1" in log and mask in log
    assert FIXES["aspect"] in log and FIXES["missing"] not in log

    log = fvgpt(world_copy, coop_dir, tmp_path / "full", *opts, "TRAINER.FVGPT.MISSING_MASK",
                "full", small_clip=small_clip, check=False)[1]
    assert "another aspect ratio than their image: 1" in log  # never replaced silently
    os.remove(mask)
    log = fvgpt(world_copy, coop_dir, tmp_path / "full2", *opts, "TRAINER.FVGPT.MISSING_MASK",
                "full", small_clip=small_clip)
    assert re.search(r"whole-image mask \(mask file missing\): [1-9]", log)


def test_missing_backbone_checkpoint_is_named(world, small_clip, tmp_path):
    missing = tmp_path / "no_such_coop_run"
    code, log = fvgpt(world, missing, tmp_path / "out", "DATASET.SUBSAMPLE_CLASSES", "base",
                      small_clip=small_clip, check=False)
    assert code != 0 and str(missing / "prompt_learner") in log


def test_backbone_with_another_class_count_is_named(world, small_clip, tmp_path):
    coop_all = tmp_path / "coop_all"
    train(world, coop_all, "CoOp", "DATASET.SUBSAMPLE_CLASSES", "all", "TEST.NO_TEST", "True",
          small_clip=small_clip)
    code, log = fvgpt(world, coop_all, tmp_path / "out", "DATASET.SUBSAMPLE_CLASSES", "base",
                      "TRAINER.FVGPT.ALLOW_UNFINISHED_BACKBONE", "True",  # NO_TEST: no result.json
                      small_clip=small_clip, check=False)
    checkpoint = str(coop_all / "prompt_learner" / "model.pth.tar-1")
    assert code != 0 and "trained on 36 classes" in log and checkpoint in log


def test_unknown_config_key_is_named(world, small_clip, tmp_path):
    code, log = train(world, tmp_path / "out", "CoOp", "TRAINER.COOP.N_CTXX", "4",
                      small_clip=small_clip, check=False)
    assert code != 0 and "TRAINER.COOP.N_CTXX" in log


def pets_recipe(engine, folder, small_clip):
    """CoOp (two epochs), FVG-PT on it, FVG-PT on the new classes, under ``engine``, on
    OxfordPets exactly as CoOp's DATASETS.md lays it out (a fixture tree), masks under ROOT/mask/."""
    env = real_dassl_environment() if engine == "real" else None
    tree = build_tree("OxfordPets", str(folder / "data"))
    pets = dict(small_clip=small_clip, env=env, dataset_config="configs/datasets/oxford_pets.yaml")
    size = ["INPUT.SIZE", "(32, 32)"]
    coop = train(tree.root, folder / "coop", "CoOp", "DATASET.SUBSAMPLE_CLASSES", "base",
                 "OPTIM.MAX_EPOCH", "2", *size, **pets)
    log = fvgpt(tree.root, folder / "coop", folder / "fvgpt", "DATASET.SUBSAMPLE_CLASSES",
                "base", *size, **pets)
    new = fvgpt(tree.root, folder / "coop", folder / "fvgpt_new", "DATASET.SUBSAMPLE_CLASSES",
                "new", *size, eval_only=folder / "fvgpt", **pets)
    return coop, log, new


@pytest.fixture(scope="module")
def pets_runs(small_clip, tmp_path_factory):
    """``pets_recipe`` under the built-in engine and the real Dassl, side by side."""
    return side_by_side({engine: functools.partial(pets_recipe, engine, tmp_path_factory.mktemp(
        f"pets_{engine}"), small_clip) for engine in ("builtin", "real")})


@pytest.mark.parametrize("engine", ["builtin", "real"])
def test_coop_then_fvgpt_on_a_real_data_set_layout(engine, pets_runs):
    """The trainers run under both engines (the real Dassl from $DASSL_PATH) on a data set laid
    out as CoOp's readers expect: CoOp over two epochs, FVG-PT on it with z_FDC on the base
    classes, z_PC on the new ones."""
    coop, log, new = pets_runs[engine].result()
    assert f"Dassl engine: {engine}" in coop and "* accuracy" in coop
    assert f"Dassl engine: {engine}" in log and "# FVG-PT learnable parameters" in log
    assert "Test-time branch: fdc" in log and "* accuracy" in log
    assert "Test-time branch: pc" in new and "* accuracy" in new


@pytest.mark.parametrize("layout, name, config", [("coop", "OxfordPets", "oxford_pets"),
                                                   ("fvgpt", "DescribableTextures", "dtd")])
def test_base2new_shell_scripts_on_a_fixture_tree(layout, name, config, small_clip, tmp_path):
    """The four scripts of a sweep: DATA=... [DATA_LAYOUT=fvgpt] bash scripts/<trainer>/base2new_*.sh
    <dataset> <seed>, on CoOp's single-root layout and on the authors' download as is (DTD three
    levels deep, masks 512 px on the short side)."""
    data = str(tmp_path / "data")
    tree = build_tree(name, data) if layout == "coop" else build_authors_tree(name, data)
    env = dict(os.environ, DATA=data, DATA_LAYOUT=layout, OUTPUT=str(tmp_path / "base2new"))
    opts = ["MODEL.BACKBONE.NAME", small_clip, "INPUT.SIZE", "(32, 32)", "DATALOADER.NUM_WORKERS", "0"]
    logs = {}
    for script in ("coop/base2new_train.sh", "coop/base2new_test.sh",
                   "fvgpt_coop/base2new_train.sh", "fvgpt_coop/base2new_test.sh"):
        run = subprocess.run(["bash", f"scripts/{script}", config, "1", *opts], cwd=REPO, env=env,
                             capture_output=True, text=True)
        assert run.returncode == 0, (script, (run.stdout + run.stderr)[-3000:])
        logs[script] = run.stdout
    for split, trainer in (("train_base", "CoOp"), ("test_new", "CoOp"),
                           ("train_base", "FVGPT_CoOp"), ("test_new", "FVGPT_CoOp")):
        run_dir = tmp_path / "base2new" / split / config / "shots_16" / trainer / "vit_b16_ep10" / "seed1"
        result = json.loads((run_dir / "result.json").read_text())
        assert result["trainer"] == trainer and (result["d_fg"] is not None) == (split == "train_base")
    n_train = tree.per_class[0] * ((len(tree.classnames) + 1) // 2)  # 16 shots > images per class
    resized = n_train if layout == "fvgpt" else 0
    assert f"Training masks checked: {n_train} ok ({resized} resized" in logs["fvgpt_coop/base2new_train.sh"]
    assert "Same training images as the backbone run" in logs["fvgpt_coop/base2new_train.sh"]
    (tmp_path / "base2new" / "train_base" / config / "shots_16" / "CoOp" / "vit_b16_ep10" / "seed2").mkdir()
    table = subprocess.run([sys.executable, "scripts/parse_results.py", str(tmp_path / "base2new")],
                           cwd=REPO, capture_output=True, text=True)
    assert table.returncode == 0, table.stderr[-3000:]
    assert re.search(rf"\| CoOp / {config} \| [\d.]+ ± 0.00 \| [\d.]+ ± 0.00 \| [\d.]+ ± 0.00 \| [\d.]+ ± 0.0000 \|",
                     table.stdout)
    assert "left out: " in table.stdout and "seed2: no result.json" in table.stdout
    assert (tmp_path / "base2new" / "results.csv").read_text().startswith("method,seeds,base")
    again = subprocess.run(["bash", "scripts/coop/base2new_train.sh", config, "1", *opts], cwd=REPO,
                           env=env, capture_output=True, text=True)
    assert "skipping" in again.stdout  # a finished run is not redone
    table = subprocess.run([sys.executable, "-m", "sweeps.tables", str(tmp_path / "base2new")],
                           cwd=REPO, capture_output=True, text=True)
    # the empty seed2 folder above is an unfinished run: the table counts it as missing
    assert f"| {config} | CoOp + FVG-PT | 1/2 (seeds 1) |" in table.stdout, table.stdout + table.stderr[-2000:]
