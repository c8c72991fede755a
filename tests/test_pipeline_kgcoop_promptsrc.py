"""KgCoOp and PromptSRC through train.py: backbone on base classes, FVG-PT on top, new-class
evaluation, under the built-in engine and the real Dassl; cross-dataset branch choice.

A randomly initialised small CLIP with 2 layers per encoder (PromptSRC prompts both) stands in
for real weights: these tests check the pipeline, not accuracy.
"""
import functools
import os
import shutil
import subprocess

import pytest
import torch

from clip.model import CLIP
from conftest import real_dassl_environment, side_by_side
from fixture_trees import build_tree
from fvgpt.trainer import resolve_test_branch_for_classes
from fvgpt.world.tiny_clip import TINY_CLIP
from test_pipeline import REPO, accuracy, train, world  # noqa: F401  (world is a fixture)

TWO_LAYER_CLIP = {**TINY_CLIP, "embed_dim": 64, "vision_layers": 2, "vision_width": 64,
                  "vision_patch_size": 8, "transformer_layers": 2}
DEPTH_2 = ["TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION", "2", "TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT", "2"]
CHECKPOINT = {"KgCoOp": "prompt_learner", "PromptSRC": "VLPromptLearner"}


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("clip") / "two_layer_clip.pt"
    torch.save(CLIP(**TWO_LAYER_CLIP).state_dict(), path)
    return str(path)


def run(root, out, trainer, *opts, **kw):
    return train(root, out, trainer, *opts, *DEPTH_2, **kw)


def backbone_recipe(backbone, engine, folder, world, small_clip):
    """``backbone`` on the base classes, FVG-PT on it, FVG-PT on the new classes, under
    ``engine``: the three logs, in ``folder``."""
    env = real_dassl_environment() if engine == "real" else None
    base = ("DATASET.SUBSAMPLE_CLASSES", "base")
    on_backbone = ("TRAINER.FVGPT.BACKBONE_DIR", str(folder / "backbone"))
    own = run(world, folder / "backbone", backbone, *base, small_clip=small_clip, env=env)
    log = run(world, folder / "fvgpt", f"FVGPT_{backbone}", *base, *on_backbone,
              small_clip=small_clip, env=env)
    new = run(world, folder / "fvgpt_new", f"FVGPT_{backbone}", "DATASET.SUBSAMPLE_CLASSES", "new",
              *on_backbone, small_clip=small_clip, env=env, eval_only=folder / "fvgpt")
    return folder, own, log, new


@pytest.fixture(scope="module")
def recipes(world, small_clip, tmp_path_factory):
    """``backbone_recipe`` of each backbone under each engine, two side by side:
    (backbone, engine) -> Future of (folder, backbone log, FVG-PT log, new-class log)."""
    return side_by_side({(backbone, engine): functools.partial(
        backbone_recipe, backbone, engine, tmp_path_factory.mktemp(f"{backbone}_{engine}"),
        world, small_clip) for backbone in CHECKPOINT for engine in ("builtin", "real")})


@pytest.mark.parametrize("engine", ["builtin", "real"])
@pytest.mark.parametrize("backbone", ["KgCoOp", "PromptSRC"])
def test_backbone_then_fvgpt_then_new_class_eval(backbone, engine, recipes):
    """The backbone trains and saves its checkpoint, FVG-PT trains on it (z_FDC on the base
    classes) and evaluates on the new classes with z_PC, under both engines."""
    folder, own, log, new = recipes[backbone, engine].result()
    assert f"Dassl engine: {engine}" in own and "* accuracy" in own
    assert os.path.isfile(folder / "backbone" / CHECKPOINT[backbone] / "model.pth.tar-1")

    assert "# FVG-PT learnable parameters: 16,962" in log  # D = 64, as for CoOp
    assert "Test-time branch: fdc" in log and "* accuracy" in log

    assert "Test-time branch: pc (head trained on FGWorld, 18 classes" in new
    assert 0.0 <= accuracy(new) <= 100.0


def test_cross_dataset_scripts_use_fdc_on_the_source_and_pc_on_a_target(small_clip, tmp_path):
    """scripts/{kgcoop,fvgpt_kgcoop}/xd_*.sh on fixture trees: ImageNet (all classes) -> OxfordPets."""
    data = str(tmp_path / "data")
    build_tree("ImageNet", data)
    build_tree("OxfordPets", data)
    env = dict(os.environ, DATA=data, OUTPUT=str(tmp_path / "xd"))
    opts = ["MODEL.BACKBONE.NAME", small_clip, "INPUT.SIZE", "(32, 32)", "DATALOADER.NUM_WORKERS", "0",
            "DATASET.NUM_SHOTS", "2", "OPTIM.MAX_EPOCH", "1", "TEST.NO_TEST", "True",
            "TRAINER.FVGPT.ALLOW_UNFINISHED_BACKBONE", "True"]  # NO_TEST runs write no result.json
    logs = {}
    for script, args in (("kgcoop/xd_train.sh", ["1"]), ("fvgpt_kgcoop/xd_train.sh", ["1"]),
                         ("fvgpt_kgcoop/xd_test.sh", ["imagenet", "1"]),
                         ("fvgpt_kgcoop/xd_test.sh", ["oxford_pets", "1"])):
        done = subprocess.run(["bash", f"scripts/{script}", *args, *opts], cwd=REPO, env=env,
                              capture_output=True, text=True)
        assert done.returncode == 0, (script, (done.stdout + done.stderr)[-3000:])
        logs[args[0]] = done.stdout
    assert "Test-time branch: fdc (head trained on ImageNet" in logs["imagenet"]
    assert "Test-time branch: pc (head trained on ImageNet" in logs["oxford_pets"]
    # the planner's layout (sweeps/plan.py), which python -m sweeps.tables reads
    target = tmp_path / "xd" / "test" / "oxford_pets" / "shots_16" / "FVGPT_KgCoOp" / "vit_b16_xd"
    assert "* accuracy" in (target / "seed1" / "log.txt").read_text()
    assert (target / "seed1" / "result.json").is_file()


def test_auto_branch_follows_the_recorded_training_classes():
    trained_on = {"dataset": "ImageNet", "classnames": ["tench", "goldfish"]}
    assert resolve_test_branch_for_classes("auto", trained_on, "ImageNet", ["tench", "goldfish"]) == "fdc"
    assert resolve_test_branch_for_classes("auto", trained_on, "ImageNet", ["goldfish"]) == "pc"
    assert resolve_test_branch_for_classes("auto", trained_on, "Caltech101", ["tench", "goldfish"]) == "pc"
    assert resolve_test_branch_for_classes("fdc", trained_on, "Caltech101", ["face"]) == "fdc"


def test_promptsrc_backbone_with_another_class_count_is_named(world, small_clip, recipes, tmp_path):
    """FVG-PT on a PromptSRC checkpoint (the recipe's, copied) whose prompts hold 5 classes
    stops, naming the checkpoint and the key whose rows it counted."""
    folder = recipes["PromptSRC", "builtin"].result()[0]
    shutil.copytree(folder / "backbone", tmp_path / "promptsrc")
    path = tmp_path / "promptsrc" / "VLPromptLearner" / "model.pth.tar-1"
    checkpoint = torch.load(path, weights_only=False)
    prefix = checkpoint["state_dict"]["prompt_learner.token_prefix"]
    checkpoint["state_dict"]["prompt_learner.token_prefix"] = prefix[:5]
    torch.save(checkpoint, path)
    code, log = run(world, tmp_path / "fvgpt", "FVGPT_PromptSRC", "DATASET.SUBSAMPLE_CLASSES", "base",
                    "TRAINER.FVGPT.BACKBONE_DIR", str(tmp_path / "promptsrc"),
                    small_clip=small_clip, check=False)
    assert code != 0 and str(path) in log
    assert "trained on 5 classes (rows of its key 'prompt_learner.token_prefix')" in log
