"""The built-in Dassl engine (fvgpt.lite_dassl) and the engine selection (fvgpt.dassl_backend).

The engine is imported as ``fvgpt.lite_dassl`` so these tests exercise it even where a real
Dassl is installed; the alias checks run when the built-in engine is the active ``dassl``.
"""
import math
import os
import pickle
import pkgutil
import random
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

import fvgpt
import fvgpt.lite_dassl as lite
from fvgpt import dassl_backend
from fvgpt.lite_dassl.config import get_cfg_default
from fvgpt.lite_dassl.data.data_manager import DatasetWrapper
from fvgpt.lite_dassl.data.datasets import DATASET_REGISTRY, DatasetBase, Datum
from fvgpt.lite_dassl.data.samplers import build_sampler
from fvgpt.lite_dassl.data.transforms import build_transform
from fvgpt.lite_dassl.engine import TRAINER_REGISTRY, TrainerX, build_trainer
from fvgpt.lite_dassl.evaluation import build_evaluator
from fvgpt.lite_dassl.metrics import compute_accuracy
from fvgpt.lite_dassl.optim import build_lr_scheduler, build_optimizer
from fvgpt.lite_dassl.engine import trainer as trainer_module
from fvgpt.lite_dassl.utils import (
    Registry,
    load_checkpoint,
    load_pretrained_weights,
    read_image,
    save_checkpoint,
    set_random_seed,
    setup_logger,
)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
builtin_active = pytest.mark.skipif(
    dassl_backend.engine_name() != "builtin", reason="the real Dassl is the active `dassl` in this process"
)


def run_python(code, **env_overrides):
    """Run ``code`` in a fresh interpreter with the repo on PYTHONPATH; return the CompletedProcess."""
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, **env_overrides)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


# ---------------------------------------------------------------- engine selection


@builtin_active
def test_every_builtin_module_is_the_dassl_module_of_the_same_name():
    import dassl
    import dassl.engine
    from dassl.engine import TRAINER_REGISTRY as registry_via_dassl

    assert dassl is lite
    assert registry_via_dassl is TRAINER_REGISTRY
    assert dassl.engine.TrainerX is TrainerX
    for info in pkgutil.walk_packages(lite.__path__, "fvgpt.lite_dassl."):
        alias = "dassl" + info.name[len("fvgpt.lite_dassl"):]
        assert sys.modules[alias] is sys.modules[info.name], alias


def test_builtin_mode_is_silent_and_serves_dassl_imports():
    result = run_python(
        "import fvgpt, dassl.engine.trainer as t; print(fvgpt.dassl_backend.engine_name(), t.__name__)",
        FVGPT_DASSL="builtin",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "builtin fvgpt.lite_dassl.engine.trainer\n"


def test_real_mode_without_dassl_says_how_to_install():
    result = run_python("import fvgpt", FVGPT_DASSL="real")
    if result.returncode == 0:
        pytest.skip("a real Dassl is importable on this machine")
    assert "ImportError" in result.stderr
    assert "github.com/KaiyangZhou/Dassl.pytorch" in result.stderr


def test_unknown_engine_mode_is_rejected(monkeypatch):
    monkeypatch.setenv("FVGPT_DASSL", "dassl2")
    with pytest.raises(ValueError, match="FVGPT_DASSL must be one of"):
        dassl_backend.selected_mode()
    monkeypatch.setenv("FVGPT_DASSL", "BuiltIn")
    assert dassl_backend.selected_mode() == "builtin"


def test_fvgpt_package_metadata():
    assert fvgpt.__version__ == "0.1.0"
    assert dassl_backend.engine_name() in ("builtin", "real")
    assert lite.DASSL_API_VERSION == "0.6.3"


# ---------------------------------------------------------------- config


COOP_STYLE_YAML = """
DATALOADER:
  TRAIN_X:
    BATCH_SIZE: 4
  TEST:
    BATCH_SIZE: 100
  NUM_WORKERS: 8
INPUT:
  SIZE: (224, 224)
  INTERPOLATION: "bicubic"
  PIXEL_MEAN: [0.48145466, 0.4578275, 0.40821073]
  PIXEL_STD: [0.26862954, 0.26130258, 0.27577711]
  TRANSFORMS: ["random_resized_crop", "random_flip", "normalize"]
  RRCROP_SCALE: (0.5, 1)
OPTIM:
  NAME: "sgd"
  LR: 0.0035
  MAX_EPOCH: 10
  LR_SCHEDULER: "cosine"
  WARMUP_EPOCH: 1
  WARMUP_TYPE: "constant"
  WARMUP_CONS_LR: 1e-5
TRAIN:
  PRINT_FREQ: 20
TEST:
  NO_TEST: False
MODEL:
  BACKBONE:
    NAME: "ViT-B/16"
DATASET:
  NAME: "Caltech101"
  NUM_SHOTS: 16
"""


def test_coop_style_config_merges_onto_the_defaults(tmp_path):
    cfg = get_cfg_default()
    assert cfg.OPTIM.NAME == "adam" and cfg.OPTIM.LR_SCHEDULER == "single_step"
    assert cfg.OPTIM.WARMUP_TYPE == "linear" and cfg.OPTIM.WARMUP_EPOCH == -1
    assert cfg.DATALOADER.TEST.SAMPLER == "SequentialSampler"
    assert cfg.TEST.FINAL_MODEL == "last_step" and cfg.TEST.EVALUATOR == "Classification"

    config_file = tmp_path / "coop.yaml"
    config_file.write_text(COOP_STYLE_YAML)
    cfg.merge_from_file(str(config_file))
    cfg.merge_from_list(["DATASET.NUM_SHOTS", "4", "OPTIM.MAX_EPOCH", "2"])

    assert cfg.INPUT.SIZE == (224, 224) and cfg.INPUT.RRCROP_SCALE == (0.5, 1)
    assert cfg.OPTIM.WARMUP_CONS_LR == 1e-5 and cfg.OPTIM.MAX_EPOCH == 2
    assert cfg.DATASET.NUM_SHOTS == 4 and cfg.MODEL.BACKBONE.NAME == "ViT-B/16"
    assert get_cfg_default().OPTIM.NAME == "adam"  # each call returns a fresh copy


def test_unknown_keys_are_rejected(tmp_path):
    # yacs: merge_from_list asserts (AssertionError), merge_from_file raises KeyError
    with pytest.raises(AssertionError, match="Non-existent key: OPTIM.WARMUP_EPOCHS"):
        get_cfg_default().merge_from_list(["OPTIM.WARMUP_EPOCHS", "1"])
    config_file = tmp_path / "typo.yaml"
    config_file.write_text("OPTIM:\n  WARMUP_EPOCHS: 1\n")
    with pytest.raises(KeyError, match="OPTIM.WARMUP_EPOCHS"):
        get_cfg_default().merge_from_file(str(config_file))


# ---------------------------------------------------------------- registries


def test_registry_errors_name_the_registered_objects():
    registry = Registry("DEMO")

    @registry.register()
    class Alpha:
        pass

    assert registry.get("Alpha") is Alpha
    with pytest.raises(KeyError, match=r"does not exist.*registered: \[.*Alpha"):
        registry.get("Beta")
    with pytest.raises(KeyError, match="already registered"):
        registry.register(Alpha)


def test_build_trainer_with_unknown_name_lists_the_trainers():
    cfg = get_cfg_default()
    cfg.TRAINER.NAME = "NoSuchTrainer"
    with pytest.raises(ValueError, match=r"expected to belong to \[.*\], but got \[NoSuchTrainer\]"):
        build_trainer(cfg)


# ---------------------------------------------------------------- optimisation


def fvgpt_optim_cfg():
    """FVG-PT's schedule: SGD at 0.0035, cosine over 10 epochs, 1 constant warm-up epoch at 1e-5."""
    cfg = get_cfg_default()
    cfg.OPTIM.NAME = "sgd"
    cfg.OPTIM.LR = 0.0035
    cfg.OPTIM.MAX_EPOCH = 10
    cfg.OPTIM.LR_SCHEDULER = "cosine"
    cfg.OPTIM.WARMUP_EPOCH = 1
    cfg.OPTIM.WARMUP_TYPE = "constant"
    cfg.OPTIM.WARMUP_CONS_LR = 1e-5
    return cfg


def lr_per_epoch(optimizer, scheduler, epochs, group=0):
    lrs = []
    for _ in range(epochs):
        lrs.append(optimizer.param_groups[group]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def test_constant_warmup_then_cosine_matches_hand_computed_lrs():
    cfg = fvgpt_optim_cfg()
    optimizer = build_optimizer(torch.nn.Linear(2, 2), cfg.OPTIM)
    scheduler = build_lr_scheduler(optimizer, cfg.OPTIM)

    # Epoch 0 is warm-up; epoch e >= 1 runs the cosine at step e - 1 (WARMUP_RECOUNT=True).
    expected = [1e-5] + [0.0035 * (1 + math.cos(math.pi * t / 10)) / 2 for t in range(5)]
    assert lr_per_epoch(optimizer, scheduler, 6) == pytest.approx(expected, rel=1e-12)
    assert expected[:3] == pytest.approx([1e-5, 0.0035, 0.0034143489035165], rel=1e-12)


def test_warmup_scheduler_state_round_trip_restores_the_successor():
    cfg = fvgpt_optim_cfg()
    optimizer = build_optimizer(torch.nn.Linear(2, 2), cfg.OPTIM)
    scheduler = build_lr_scheduler(optimizer, cfg.OPTIM)
    lr_per_epoch(optimizer, scheduler, 4)
    state = scheduler.state_dict()

    # the order resume_from_checkpoint uses: build both, then load optimizer, then scheduler
    fresh_optimizer = build_optimizer(torch.nn.Linear(2, 2), cfg.OPTIM)
    fresh = build_lr_scheduler(fresh_optimizer, cfg.OPTIM)
    fresh_optimizer.load_state_dict(optimizer.state_dict())
    fresh.load_state_dict(state)
    assert fresh.successor.last_epoch == scheduler.successor.last_epoch == 3
    assert lr_per_epoch(fresh_optimizer, fresh, 3) == pytest.approx(lr_per_epoch(optimizer, scheduler, 3))


def test_linear_warmup_and_staged_lr():
    cfg = get_cfg_default()
    cfg.OPTIM.NAME, cfg.OPTIM.LR, cfg.OPTIM.MAX_EPOCH = "sgd", 0.1, 6
    cfg.OPTIM.LR_SCHEDULER, cfg.OPTIM.STEPSIZE = "multi_step", (4,)
    cfg.OPTIM.WARMUP_EPOCH, cfg.OPTIM.WARMUP_MIN_LR = 2, 0.01
    cfg.OPTIM.STAGED_LR, cfg.OPTIM.NEW_LAYERS = True, ("head",)
    model = torch.nn.Sequential()
    model.add_module("body", torch.nn.Linear(2, 3))
    model.add_module("head", torch.nn.Linear(3, 2))

    optimizer = build_optimizer(model, cfg.OPTIM)
    assert [len(group["params"]) for group in optimizer.param_groups] == [2, 2]
    # base layers: LR * BASE_LR_MULT; new layers: LR
    assert [group["lr"] for group in optimizer.param_groups] == pytest.approx([0.01, 0.1])
    scheduler = build_lr_scheduler(optimizer, cfg.OPTIM)
    # new layers: min_lr, then LR * 1/2, then the multi-step schedule counted from 0 (decay after 4 steps)
    expected = [0.01, 0.05, 0.1, 0.1, 0.1, 0.1, 0.01]
    assert lr_per_epoch(optimizer, scheduler, 7, group=1) == pytest.approx(expected)


# ---------------------------------------------------------------- data


def write_images(folder, n_classes=3, per_class=4, size=8):
    """Solid-colour PNGs, one colour per class, so a linear model can separate them."""
    items = []
    for label in range(n_classes):
        for i in range(per_class):
            path = folder / f"class{label}_{i}.png"
            colour = np.zeros((size, size + i, 3), dtype=np.uint8)
            colour[..., label] = 200
            Image.fromarray(colour).save(path)
            items.append(Datum(impath=str(path), label=label, classname=f"class{label}"))
    return items


def test_dataset_base_derives_classes_and_samples_few_shots_like_dassl(tmp_path):
    items = write_images(tmp_path, n_classes=3, per_class=4)
    dataset = DatasetBase(train_x=items, val=items[:2], test=items)
    assert dataset.num_classes == 3
    assert dataset.lab2cname == {0: "class0", 1: "class1", 2: "class2"}
    assert dataset.classnames == ["class0", "class1", "class2"]

    random.seed(0)
    fewshot = dataset.generate_fewshot_dataset(items, num_shots=2)
    random.seed(0)
    expected = [d for label in range(3) for d in random.sample(items[4 * label:4 * label + 4], 2)]
    assert fewshot == expected

    train, val = dataset.generate_fewshot_dataset(items, items[:3], num_shots=5, repeat=False)
    assert len(train) == 12 and val == items[:3]  # fewer than 5 per label: all kept
    assert len(dataset.generate_fewshot_dataset(items, num_shots=5, repeat=True)) == 15
    assert dataset.generate_fewshot_dataset(items, num_shots=-1) is items
    assert sorted(dataset.split_dataset_by_label(items)) == [0, 1, 2]


@builtin_active
def test_datum_pickles_under_dassls_class_path(tmp_path):
    items = write_images(tmp_path, n_classes=2, per_class=1)
    data = pickle.dumps({"train": items, "val": items[:1]}, protocol=pickle.HIGHEST_PROTOCOL)
    assert b"dassl.data.datasets.base_dataset" in data

    loaded = pickle.loads(data)
    assert [(d.impath, d.label, d.domain, d.classname) for d in loaded["train"]] == [
        (d.impath, d.label, d.domain, d.classname) for d in items
    ]
    assert set(vars(loaded["val"][0])) == {"_impath", "_label", "_domain", "_classname"}


def test_datum_requires_an_existing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        Datum(impath=str(tmp_path / "missing.jpg"), label=0)


def tiny_input_cfg(*transforms):
    cfg = get_cfg_default()
    cfg.INPUT.SIZE = (8, 8)
    cfg.INPUT.TRANSFORMS = transforms
    return cfg


def test_transform_names_build_dassls_pipelines(tmp_path):
    image = Image.new("RGB", (20, 12), color=(10, 120, 250))
    cfg = tiny_input_cfg("random_resized_crop", "random_flip", "normalize")
    cfg.INPUT.RRCROP_SCALE = (0.5, 1.0)

    train = build_transform(cfg, is_train=True)
    assert [type(t) for t in train.transforms] == [
        T.RandomResizedCrop, T.RandomHorizontalFlip, T.ToTensor, T.Normalize
    ]
    assert train.transforms[0].scale == (0.5, 1.0)
    test = build_transform(cfg, is_train=False)
    assert [type(t) for t in test.transforms] == [T.Resize, T.CenterCrop, T.ToTensor, T.Normalize]
    assert test.transforms[0].size == 8  # shorter side to max(INPUT.SIZE), then center crop
    assert train(image).shape == test(image).shape == (3, 8, 8)

    cfg.INPUT.CROP_PADDING = 2
    padded = build_transform(cfg, choices=["random_crop", "random_translation"])
    assert padded.transforms[1].padding == 2
    assert padded(image).shape == (3, 8, 8)
    resized = build_transform(tiny_input_cfg("center_crop"), is_train=True)
    assert [type(t) for t in resized.transforms] == [T.Resize, T.ToTensor]


def test_unsupported_transform_is_named_in_the_error():
    with pytest.raises(ValueError, match='"randaugment"'):
        build_transform(tiny_input_cfg("random_flip", "randaugment"))


def test_dataset_wrapper_returns_dassls_keys(tmp_path):
    items = write_images(tmp_path, n_classes=2, per_class=1)
    cfg = tiny_input_cfg("random_flip", "normalize")
    cfg.DATALOADER.RETURN_IMG0 = True
    cfg.DATALOADER.K_TRANSFORMS = 2
    tfm = build_transform(cfg, is_train=True)

    item = DatasetWrapper(cfg, items, transform=[tfm, tfm], is_train=True)[1]
    assert set(item) == {"label", "domain", "impath", "index", "img", "img2", "img0"}
    assert (item["label"], item["index"], item["impath"]) == (1, 1, items[1].impath)
    assert len(item["img"]) == 2 and item["img"][0].shape == (3, 8, 8)  # K_TRANSFORMS views
    assert item["img0"].shape == (3, 8, 8)
    assert DatasetWrapper(cfg, items, transform=tfm, is_train=False)[0]["img"].shape == (3, 8, 8)


def test_unsupported_sampler_and_unreadable_files_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="RandomDomainSampler"):
        build_sampler("RandomDomainSampler", data_source=[])
    with pytest.raises(FileNotFoundError, match="nope.png"):
        read_image(str(tmp_path / "nope.png"))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    with pytest.raises(OSError, match="broken.png"):
        read_image(str(broken))
    with pytest.raises(FileNotFoundError, match="model.pth.tar-9"):
        load_checkpoint(str(tmp_path / "model.pth.tar-9"))


def test_setup_logger_tees_stdout_without_overwriting_old_logs(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdout", sys.stdout)  # restored after the test
    setup_logger(str(tmp_path))
    print("first run")
    sys.stdout.flush()
    setup_logger(str(tmp_path))
    print("second run")
    sys.stdout.flush()

    assert (tmp_path / "log.txt").read_text() == "first run\n"
    (second_log,) = [p for p in tmp_path.iterdir() if p.name.startswith("log.txt-")]
    assert second_log.read_text() == "second run\n"
    assert capsys.readouterr().out == "first run\nsecond run\n"


def test_load_pretrained_weights_copies_matching_layers(tmp_path, capsys):
    source = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    save_checkpoint({"state_dict": source.state_dict(), "epoch": 1}, str(tmp_path))
    target = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 5))  # head has another size

    load_pretrained_weights(target, str(tmp_path / "model.pth.tar-1"))
    assert torch.equal(target[0].weight, source[0].weight)
    assert not torch.equal(target[1].bias[:2], source[1].bias)
    assert "Layers discarded due to unmatched keys or size: ['1.weight', '1.bias']" in capsys.readouterr().out


def test_missing_tensorboard_is_reported_and_scalars_are_skipped(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(trainer_module, "SummaryWriter", None)
    trainer = trainer_module.TrainerBase()
    trainer.init_writer(str(tmp_path))
    trainer.write_scalar("train/loss", 1.0, 0)
    trainer.close_writer()
    assert "tensorboard is not installed" in capsys.readouterr().out


# ---------------------------------------------------------------- metrics


def test_accuracy_and_classification_evaluator(capsys):
    logits = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.8, 0.3], [0.1, 0.3, 0.6]])
    labels = torch.tensor([0, 1, 2, 0])
    top1, top2 = compute_accuracy(logits, labels, topk=(1, 2))
    assert (top1.item(), top2.item()) == (50.0, 75.0)

    cfg = get_cfg_default()
    cfg.TEST.PER_CLASS_RESULT = True
    evaluator = build_evaluator(cfg, lab2cname={0: "cat", 1: "dog", 2: "fox"})
    evaluator.process(logits[:2], labels[:2])
    evaluator.process(logits[2:], labels[2:])
    results = evaluator.evaluate()

    # F1 per true label: cat 2/3 (TP 1, FN 1), dog 2/3 (TP 1, FP 1), fox 0 -> macro 4/9
    assert results["accuracy"] == 50.0 and results["error_rate"] == 50.0
    assert results["macro_f1"] == pytest.approx(100 * 4 / 9)
    assert results["perclass_accuracy"] == pytest.approx(50.0)
    out = capsys.readouterr().out
    assert "* accuracy: 50.0%\n* error: 50.0%\n* macro_f1: 44.4%" in out
    assert "* class: 0 (cat)\ttotal: 2\tcorrect: 1\tacc: 50.0%" in out


# ---------------------------------------------------------------- trainer


@DATASET_REGISTRY.register()
class TinyColours(DatasetBase):
    """Three solid colours written under DATASET.ROOT."""

    def __init__(self, cfg):
        from pathlib import Path

        items = write_images(Path(cfg.DATASET.ROOT), n_classes=3, per_class=4)
        super().__init__(train_x=items, val=items[::2], test=items)


@TRAINER_REGISTRY.register()
class TinyLinear(TrainerX):
    """A linear classifier on 8x8 images, trained the way CoOp-family trainers train."""

    def build_model(self):
        self.model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, self.num_classes))
        self.optim = build_optimizer(self.model, self.cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, self.cfg.OPTIM)
        self.register_model("linear", self.model, self.optim, self.sched)

    def forward_backward(self, batch):
        image, label, _ = self.parse_batch_train(batch)
        output = self.model(image)
        loss = torch.nn.functional.cross_entropy(output, label)
        self.model_backward_and_update(loss)
        if (self.batch_idx + 1) == self.num_batches:
            self.update_lr()
        return {"loss": loss.item(), "acc": compute_accuracy(output, label)[0].item()}


def tiny_trainer_cfg(tmp_path, **overrides):
    cfg = fvgpt_optim_cfg()
    cfg.merge_from_list([
        "TRAINER.NAME", "TinyLinear", "DATASET.NAME", "TinyColours",
        "DATASET.ROOT", str(tmp_path / "data"), "OUTPUT_DIR", str(tmp_path / "output"),
        "USE_CUDA", False, "DATALOADER.NUM_WORKERS", 0, "INPUT.SIZE", (8, 8),
        "INPUT.TRANSFORMS", ("random_flip", "normalize"), "DATALOADER.TRAIN_X.BATCH_SIZE", 4,
        "OPTIM.LR", 0.5, "OPTIM.MAX_EPOCH", 2, "TRAIN.PRINT_FREQ", 2,
    ])
    for key, value in overrides.items():
        cfg.merge_from_list([key, value])
    (tmp_path / "data").mkdir(exist_ok=True)
    return cfg


def test_tiny_trainer_trains_checkpoints_reloads_and_tests(tmp_path, capsys):
    torch.set_num_threads(1)
    set_random_seed(0)
    trainer = build_trainer(tiny_trainer_cfg(tmp_path))
    trainer.train()

    out = capsys.readouterr().out
    assert re.search(
        r"epoch \[2/2\] batch \[2/3\] time \d+\.\d{3} \(\d+\.\d{3}\) data \d+\.\d{3} \(\d+\.\d{3}\) "
        r"loss \d+\.\d{4} \(\d+\.\d{4}\) acc \d+\.\d{4} \(\d+\.\d{4}\) lr 5\.0000e-01 eta \d+:\d\d:\d\d",
        out,
    )
    assert "lr 1.0000e-05" in out  # the warm-up epoch
    assert "Deploy the last-epoch model" in out and "Evaluate on the *test* set" in out

    model_dir = tmp_path / "output" / "linear"
    assert (model_dir / "checkpoint").read_text() == "model.pth.tar-2\n"
    checkpoint = load_checkpoint(str(model_dir / "model.pth.tar-2"))
    assert set(checkpoint) == {"state_dict", "epoch", "optimizer", "scheduler", "val_result"}
    assert checkpoint["epoch"] == 2 and checkpoint["val_result"] is None

    trained = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    with torch.no_grad():
        for param in trainer.model.parameters():
            param.zero_()
    trainer.load_model(str(tmp_path / "output"), epoch=2)
    assert all(torch.equal(trained[k], v) for k, v in trainer.model.state_dict().items())
    assert "(epoch=2, val_result=None)" in capsys.readouterr().out

    accuracy = trainer.test()
    assert 0.0 <= accuracy <= 100.0
    assert trainer.test(split="val") == pytest.approx(trainer.evaluator.evaluate()["accuracy"])


def test_best_val_keeps_the_best_model_and_checkpoint_freq(tmp_path, capsys):
    torch.set_num_threads(1)
    set_random_seed(0)
    cfg = tiny_trainer_cfg(tmp_path, **{"TEST.FINAL_MODEL": "best_val", "TRAIN.CHECKPOINT_FREQ": 1})
    build_trainer(cfg).train()

    files = sorted(os.listdir(tmp_path / "output" / "linear"))
    assert files == ["checkpoint", "model-best.pth.tar", "model.pth.tar-1", "model.pth.tar-2"]
    out = capsys.readouterr().out
    assert out.count("Evaluate on the *val* set") == 2
    assert "Deploy the model with the best val performance" in out

    resumed = build_trainer(cfg.clone())
    assert resumed.resume_model_if_exist(str(tmp_path / "output")) == 2
