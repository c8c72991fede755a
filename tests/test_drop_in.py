"""The README's drop-in recipe, followed in a CoOp-style repository of a user's own.

The repository is written to a temporary folder: its own ``train.py`` with its own
``extend_cfg``, its own CoOp trainer (checkpoints as KaiyangZhou/CoOp saves them), its own
data set reader. The README's two lines go in, then the recipe runs as the README says:
train the CoOp backbone, train FVG-PT on it, evaluate FVG-PT on new classes.
"""
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from yacs.config import CfgNode as CN

import fvgpt

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMPORT_LINE = "import fvgpt"
ADD_CONFIG_LINE = "fvgpt.add_config(cfg)"
FVGPT_CONFIG = os.path.join(REPO, "configs", "trainers", "FVGPT_CoOp", "vit_b16_ep10.yaml")
FAST = ["DATASET.NUM_SHOTS", "2", "OPTIM.MAX_EPOCH", "1", "INPUT.SIZE", "(32, 32)",
        "DATALOADER.NUM_WORKERS", "0", "DATALOADER.TEST.BATCH_SIZE", "8"]

USER_TRAIN_PY = '''"""A CoOp-style train.py of the user's own (KaiyangZhou/CoOp's interface)."""
import argparse
{import_first}
from dassl.config import get_cfg_default
from dassl.engine import build_trainer
from dassl.utils import set_random_seed, setup_logger
from yacs.config import CfgNode as CN

import toy_data  # noqa: F401
import trainers.coop  # noqa: F401
{import_last}

def extend_cfg(cfg):
    cfg.TRAINER.COOP = CN()
    cfg.TRAINER.COOP.N_CTX = 16
    cfg.TRAINER.COOP.CSC = False
    cfg.TRAINER.COOP.CTX_INIT = ""
    cfg.TRAINER.COOP.PREC = "fp32"
    cfg.TRAINER.COOP.CLASS_TOKEN_POSITION = "end"
    cfg.DATASET.SUBSAMPLE_CLASSES = "all"
    {add_config}


def main(args):
    cfg = get_cfg_default()
    extend_cfg(cfg)
    cfg.merge_from_file(args.dataset_config_file)
    cfg.merge_from_file(args.config_file)
    cfg.DATASET.ROOT, cfg.OUTPUT_DIR, cfg.SEED = args.root, args.output_dir, args.seed
    cfg.TRAINER.NAME = args.trainer
    cfg.merge_from_list(args.opts)
    cfg.freeze()
    set_random_seed(cfg.SEED)
    setup_logger(cfg.OUTPUT_DIR)
    trainer = build_trainer(cfg)
    if args.eval_only:
        trainer.load_model(args.model_dir, epoch=args.load_epoch)
        trainer.test()
        return
    trainer.train()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for flag in ("--root", "--output-dir", "--trainer", "--config-file", "--dataset-config-file",
                 "--model-dir"):
        parser.add_argument(flag, default="")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--load-epoch", type=int)
    parser.add_argument("--eval-only", action="store_true")
    parser.add_argument("opts", nargs=argparse.REMAINDER)
    main(parser.parse_args())
'''

USER_COOP = '''"""The user's CoOp: context vectors before the class name; saved as CoOp saves them."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from dassl.engine import TRAINER_REGISTRY, TrainerX
from dassl.optim import build_lr_scheduler, build_optimizer
from dassl.utils import load_checkpoint


class PromptLearner(nn.Module):
    def __init__(self, cfg, classnames, clip_model):
        super().__init__()
        import clip  # here: before fvgpt, clip needs pkg_resources (setuptools < 81), see README

        n_ctx = cfg.TRAINER.COOP.N_CTX
        self.ctx = nn.Parameter(0.02 * torch.randn(n_ctx, clip_model.ln_final.weight.shape[0]))
        prompts = [" ".join(["X"] * n_ctx) + " " + name.replace("_", " ") + "." for name in classnames]
        self.tokens = clip.tokenize(prompts)
        with torch.no_grad():
            embedding = clip_model.token_embedding(self.tokens)
        self.register_buffer("token_prefix", embedding[:, :1])
        self.register_buffer("token_suffix", embedding[:, 1 + n_ctx:])

    def forward(self):
        ctx = self.ctx.unsqueeze(0).expand(len(self.tokens), -1, -1)
        return torch.cat([self.token_prefix, ctx, self.token_suffix], dim=1)


class CustomCLIP(nn.Module):
    def __init__(self, cfg, classnames, clip_model):
        super().__init__()
        self.prompt_learner = PromptLearner(cfg, classnames, clip_model)
        self.clip = clip_model

    def forward(self, image):
        m = self.clip
        x = self.prompt_learner() + m.positional_embedding
        x = m.ln_final(m.transformer(x.permute(1, 0, 2)).permute(1, 0, 2))
        text = x[torch.arange(x.shape[0]), self.prompt_learner.tokens.argmax(-1)] @ m.text_projection
        image = F.normalize(m.encode_image(image), dim=-1)
        return m.logit_scale.exp() * image @ F.normalize(text, dim=-1).t()


@TRAINER_REGISTRY.register()
class CoOp(TrainerX):
    def build_model(self):
        from clip.model import build_model

        clip_model = build_model(torch.load(self.cfg.MODEL.BACKBONE.NAME, map_location="cpu")).float()
        self.model = CustomCLIP(self.cfg, self.dm.dataset.classnames, clip_model).to(self.device)
        for name, param in self.model.named_parameters():
            param.requires_grad_("prompt_learner" in name)
        self.optim = build_optimizer(self.model.prompt_learner, self.cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, self.cfg.OPTIM)
        self.register_model("prompt_learner", self.model.prompt_learner, self.optim, self.sched)

    def parse_batch_train(self, batch):
        return batch["img"].to(self.device), batch["label"].to(self.device)

    def forward_backward(self, batch):
        image, label = self.parse_batch_train(batch)
        loss = F.cross_entropy(self.model(image), label)
        self.model_backward_and_update(loss)
        if (self.batch_idx + 1) == self.num_batches:
            self.update_lr()
        return {"loss": loss.item()}

    def load_model(self, directory, epoch=None):
        state = load_checkpoint(f"{directory}/prompt_learner/model.pth.tar-{epoch}")["state_dict"]
        del state["token_prefix"], state["token_suffix"]  # keep the current classes' tokens
        self.model.prompt_learner.load_state_dict(state, strict=False)
'''

USER_DATA = '''"""The user's reader: ROOT/toy/images/<class>/*.png, 4 train and 2 test images per class,
few-shot sample cached in split_fewshot/ as CoOp's readers do, base/new = first/second half."""
import os
import pickle

from dassl.data.datasets import DATASET_REGISTRY, DatasetBase, Datum


@DATASET_REGISTRY.register()
class Toy(DatasetBase):
    def __init__(self, cfg):
        self.dataset_dir = os.path.join(os.path.abspath(cfg.DATASET.ROOT), "toy")
        image_dir = os.path.join(self.dataset_dir, "images")
        classes = sorted(os.listdir(image_dir))
        half = len(classes) // 2
        kept = {"base": classes[:half], "new": classes[half:]}.get(cfg.DATASET.SUBSAMPLE_CLASSES, classes)
        train, test = [], []
        for name in classes:
            files = sorted(os.listdir(os.path.join(image_dir, name)))
            items = [Datum(impath=os.path.join(image_dir, name, f), label=classes.index(name),
                           classname=name) for f in files]
            train, test = train + items[:4], test + items[4:]
        self.split_fewshot_dir = os.path.join(self.dataset_dir, "split_fewshot")
        os.makedirs(self.split_fewshot_dir, exist_ok=True)
        cache = os.path.join(self.split_fewshot_dir, f"shot_{cfg.DATASET.NUM_SHOTS}-seed_{cfg.SEED}.pkl")
        if os.path.exists(cache):
            with open(cache, "rb") as f:
                train = pickle.load(f)["train"]
        else:
            train = self.generate_fewshot_dataset(train, num_shots=cfg.DATASET.NUM_SHOTS)
            with open(cache, "wb") as f:
                pickle.dump({"train": train}, f)

        def keep(items):
            return [Datum(impath=d.impath, label=kept.index(d.classname), classname=d.classname)
                    for d in items if d.classname in kept]

        super().__init__(train_x=keep(train), val=keep(test), test=keep(test))
'''

USER_COOP_CONFIG = """DATALOADER:
  TRAIN_X:
    BATCH_SIZE: 4
INPUT:
  SIZE: (32, 32)
  TRANSFORMS: ["center_crop", "normalize"]
OPTIM:
  NAME: "sgd"
  LR: 0.002
  MAX_EPOCH: 1
  LR_SCHEDULER: "cosine"
  WARMUP_EPOCH: 1
  WARMUP_TYPE: "constant"
  WARMUP_CONS_LR: 1e-5
TRAINER:
  COOP:
    N_CTX: 4
"""

CLASSES = ["cat", "dog", "fox", "owl"]


def write_toy_data(root):
    """16x12 images, each with a released-style mask (512 px on the short side, 683x512)."""
    rng = np.random.default_rng(0)
    for name in CLASSES:
        for i in range(6):
            rel = os.path.join("toy", "images", name, f"{i}.png")
            os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)).save(os.path.join(root, rel))
            mask = np.zeros((12, 16), dtype=np.uint8)
            mask[2:10, 3:13] = 255
            mask_path = os.path.join(root, "mask", rel)
            os.makedirs(os.path.dirname(mask_path), exist_ok=True)
            Image.fromarray(mask).resize((683, 512), Image.NEAREST).save(mask_path)


def readme_drop_in_section():
    with open(os.path.join(REPO, "README.md")) as f:
        text = f.read()
    start = text.index("## Adding FVG-PT to an existing CoOp-family repository")
    return text[start:text.index("\n## ", start + 1)]


def write_user_repo(path, import_fvgpt_first):
    """The user's repository with the README's two lines applied."""
    section = readme_drop_in_section()
    assert IMPORT_LINE in section and ADD_CONFIG_LINE in section
    files = {
        "train.py": USER_TRAIN_PY.format(import_first=IMPORT_LINE if import_fvgpt_first else "",
                                         import_last="" if import_fvgpt_first else IMPORT_LINE,
                                         add_config=ADD_CONFIG_LINE),
        "trainers/__init__.py": "", "trainers/coop.py": USER_COOP, "toy_data.py": USER_DATA,
        "configs/datasets/toy.yaml": 'DATASET:\n  NAME: "Toy"\n',
        "configs/trainers/CoOp/fast.yaml": USER_COOP_CONFIG,
    }
    for rel, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(path, rel)) or path, exist_ok=True)
        with open(os.path.join(path, rel), "w") as f:
            f.write(text)


def run(repo, env, *args, check=True):
    done = subprocess.run([sys.executable, "train.py", *map(str, args)], cwd=repo, env=env,
                          capture_output=True, text=True)
    log = done.stdout + done.stderr
    if check:
        assert done.returncode == 0, log[-4000:]
    return log if check else (done.returncode, log)


def accuracy(log):
    return float(re.findall(r"\* accuracy: ([\d.]+)%", log)[-1])


@pytest.mark.parametrize("engine", ["builtin", "real"])
def test_the_readme_drop_in_in_a_coop_style_repository(engine, small_clip, tmp_path, request):
    """Under the real Dassl ``import fvgpt`` comes last, after the user's own trainers."""
    env = dict(os.environ, FVGPT_DASSL="builtin")
    if engine == "real":
        env = dict(request.getfixturevalue("real_dassl_env"))
        env["PYTHONPATH"] = os.environ["DASSL_PATH"]  # Dassl, not this repository
    repo, data, out = tmp_path / "repo", tmp_path / "data", tmp_path / "output"
    write_user_repo(repo, import_fvgpt_first=engine == "builtin")
    write_toy_data(data)
    common = ["--root", data, "--seed", 1, "--dataset-config-file", "configs/datasets/toy.yaml"]
    coop = common + ["--trainer", "CoOp", "--config-file", "configs/trainers/CoOp/fast.yaml"]
    fvgpt_run = common + ["--trainer", "FVGPT_CoOp", "--config-file", FVGPT_CONFIG]
    opts = FAST + ["MODEL.BACKBONE.NAME", small_clip]

    run(repo, env, *coop, "--output-dir", out / "coop", *opts, "DATASET.SUBSAMPLE_CLASSES", "base")
    new_coop = run(repo, env, *coop, "--output-dir", out / "coop_new", "--eval-only", "--model-dir",
                   out / "coop", "--load-epoch", 1, *opts, "DATASET.SUBSAMPLE_CLASSES", "new")
    assert "* accuracy" in new_coop  # the user's own --eval-only, whatever the import order

    log = run(repo, env, *fvgpt_run, "--output-dir", out / "fvgpt", *opts,
              "DATASET.SUBSAMPLE_CLASSES", "base", "TRAINER.FVGPT.BACKBONE_DIR", out / "coop",
              "TEST.FOREGROUND_SHIFT_INDEX", "True")
    assert f"Dassl engine: {engine} (" in log
    assert "Training masks checked: 4 ok (4 resized to their image)" in log
    assert "has no training_images.json" in log  # a backbone trained outside fvgpt's train.py
    assert re.search(r"\* foreground shift index D_fg: [\d.]+", log)  # by the trainer itself
    meta = torch.load(out / "fvgpt" / "fvgpt_head" / "model.pth.tar-1", weights_only=False)["fvgpt_meta"]
    assert meta["dir"] == str(out / "coop") and meta["epoch"] == 1 and meta["trainer"] == "CoOp"
    assert meta["dataset"] == "Toy" and meta["classnames"] == CLASSES[:2]

    new = run(repo, env, *fvgpt_run, "--output-dir", out / "fvgpt_new", "--eval-only", "--model-dir",
              out / "fvgpt", "--load-epoch", 1, *opts, "DATASET.SUBSAMPLE_CLASSES", "new")
    assert f"Backbone from the checkpoint's record: {out / 'coop'} (epoch 1)" in new
    assert "Test-time branch: pc" in new and 0 <= accuracy(new) <= 100

    if engine == "builtin":  # evaluating on another backbone is refused, naming both
        shutil.copytree(out / "coop", out / "other_coop")
        checkpoint = out / "other_coop" / "prompt_learner" / "model.pth.tar-1"
        saved = torch.load(checkpoint, weights_only=False)
        saved["state_dict"]["ctx"] += 1.0
        torch.save(saved, checkpoint)
        code, refused = run(repo, env, *fvgpt_run, "--output-dir", out / "refused", "--eval-only",
                            "--model-dir", out / "fvgpt", "--load-epoch", 1, *opts,
                            "DATASET.SUBSAMPLE_CLASSES", "new",
                            "TRAINER.FVGPT.BACKBONE_DIR", out / "other_coop", check=False)
        assert code != 0 and "another backbone" in refused
        assert str(out / "coop" / "prompt_learner") in refused and str(checkpoint) in refused


def test_add_config_adds_only_what_is_missing():
    cfg = CN()
    cfg.TRAINER, cfg.TEST, cfg.DATASET, cfg.MODEL = CN(), CN(), CN(), CN()
    cfg.MODEL.BACKBONE = CN()
    cfg.TRAINER.COOP = CN()
    cfg.TRAINER.COOP.N_CTX = 8
    cfg.TRAINER.COOP.W = 2.0  # KgCoOp's key, unknown to CoOp
    cfg.DATASET.SUBSAMPLE_CLASSES = "base"

    fvgpt.add_config(cfg)

    assert cfg.TRAINER.COOP.N_CTX == 8 and cfg.TRAINER.COOP.W == 2.0
    assert cfg.DATASET.SUBSAMPLE_CLASSES == "base"
    assert cfg.TRAINER.COOP.CSC is False  # a missing CoOp key is added with CoOp's default
    assert cfg.TRAINER.FVGPT.LAMBDA_DIST == 10.0 and cfg.TRAINER.FVGPT.FG_FILL == "mean"
    assert cfg.TEST.FOREGROUND_SHIFT_INDEX is False and cfg.MODEL.BACKBONE.CLIP_CACHE_DIR == ""


def test_clip_imports_without_pkg_resources():
    """setuptools >= 81 has no pkg_resources (installing Dassl's requirements may bring it)."""
    code = (
        "import sys\n"
        "class NoPkgResources:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'pkg_resources':\n"
        "            raise ModuleNotFoundError(\"No module named 'pkg_resources'\", name=name)\n"
        "sys.meta_path.insert(0, NoPkgResources())\n"
        "import fvgpt, clip\n"
        "assert 'pkg_resources' not in sys.modules\n"
        "print(tuple(clip.tokenize('a photo').shape))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "(1, 77)"
