"""The README's drop-in recipe, followed in a CoOp-style repository of a user's own.

The repository is written to a temporary folder: its own ``train.py`` with its own
``extend_cfg``, its own CoOp trainer (checkpoints as KaiyangZhou/CoOp saves them), its own
data set reader. The README's two lines go in, then the recipe runs as the README says:
train the CoOp backbone, train FVG-PT on it, evaluate FVG-PT on new classes.
"""
import functools
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
from conftest import real_dassl_environment, side_by_side

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
import trainers.{trainer_module}  # noqa: F401
{import_last}

def extend_cfg(cfg):
{extend_cfg}    cfg.DATASET.SUBSAMPLE_CLASSES = "all"
    {add_config}


def main(args):
    cfg = get_cfg_default()
    extend_cfg(cfg)
    cfg.merge_from_file(args.dataset_config_file)
    cfg.merge_from_file(args.config_file)
    cfg.DATASET.ROOT, cfg.OUTPUT_DIR, cfg.SEED = args.root, args.output_dir, args.seed
    cfg.TRAINER.NAME = args.trainer
{before_opts}
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


COOP_EXTEND_CFG = """    cfg.TRAINER.COOP = CN()
    cfg.TRAINER.COOP.N_CTX = 16
    cfg.TRAINER.COOP.CSC = False
    cfg.TRAINER.COOP.CTX_INIT = ""
    cfg.TRAINER.COOP.PREC = "fp32"
    cfg.TRAINER.COOP.CLASS_TOKEN_POSITION = "end"
"""


def write_files(path, files):
    for rel, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(path, rel)) or path, exist_ok=True)
        with open(os.path.join(path, rel), "w") as f:
            f.write(text)


def drop_in_recipe():
    with open(os.path.join(REPO, "docs", "drop_in.md")) as f:
        return f.read()


def user_train_py(import_fvgpt_first, trainer_module="coop", extend_cfg=COOP_EXTEND_CFG, before_opts=""):
    """The user's train.py with the two lines of docs/drop_in.md applied."""
    recipe = drop_in_recipe()
    assert IMPORT_LINE in recipe and ADD_CONFIG_LINE in recipe
    return USER_TRAIN_PY.format(import_first=IMPORT_LINE if import_fvgpt_first else "",
                                import_last="" if import_fvgpt_first else IMPORT_LINE,
                                add_config=ADD_CONFIG_LINE, trainer_module=trainer_module,
                                extend_cfg=extend_cfg, before_opts=before_opts)


def write_user_repo(path, import_fvgpt_first):
    """The user's repository with the two lines applied."""
    files = {
        "train.py": user_train_py(import_fvgpt_first),
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


@pytest.fixture(scope="module")
def fvgpt_only(tmp_path_factory):
    """A folder holding only this repository's ``fvgpt`` package (a link), for PYTHONPATH: the
    user's repository sees fvgpt, not this repository's own trainers/ or datasets/."""
    folder = tmp_path_factory.mktemp("fvgpt_only")
    os.symlink(os.path.join(REPO, "fvgpt"), folder / "fvgpt")
    return str(folder)


ENGINES = ("builtin", "real")


def engine_env(engine, fvgpt_only, dassl_path=None):
    """Subprocess environment: the built-in engine, or the real Dassl (``dassl_path``, default
    $DASSL_PATH) beside fvgpt (skips or fails the test as ``real_dassl_env`` does)."""
    if engine == "builtin":
        return dict(os.environ, FVGPT_DASSL="builtin")
    env = real_dassl_environment()
    env["PYTHONPATH"] = os.pathsep.join([fvgpt_only, dassl_path or os.environ["DASSL_PATH"]])
    return env


def under_both_engines(recipe, tmp_path_factory, name, *args):
    """``recipe(engine, folder, *args)`` for each engine, the two side by side (conftest's
    ``side_by_side``), each in a folder of its own: engine -> Future of what it returns."""
    return side_by_side({engine: functools.partial(recipe, engine, tmp_path_factory.mktemp(
        f"{name}_{engine}"), *args) for engine in ENGINES})


class Recipe:
    """What a user ran in a repository: its folders and environment, and the logs by step."""

    def __init__(self, repo, data, out, env, common, fvgpt_run, opts):
        self.repo, self.data, self.out, self.env = repo, data, out, env
        self.common, self.fvgpt_run, self.opts = common, fvgpt_run, opts
        self.logs = {}


def backbone_then_fvgpt(done, backbone, name, opts, fvgpt_train_opts, fvgpt_test_opts,
                        after_backbone_dir=()):
    """The recipe's four runs, their logs in ``done.logs``: the user's backbone (command
    ``backbone``, folder ``name``) on the base classes and, with its own --eval-only, on the new
    ones; FVG-PT on it; FVG-PT on the new classes."""
    repo, env, out, fvgpt_run = done.repo, done.env, done.out, done.fvgpt_run
    done.logs[name] = run(repo, env, *backbone, "--output-dir", out / name, *opts,
                          "DATASET.SUBSAMPLE_CLASSES", "base")
    done.logs[f"{name}_new"] = run(repo, env, *backbone, "--output-dir", out / f"{name}_new",
                                   "--eval-only", "--model-dir", out / name, "--load-epoch", 1,
                                   *opts, "DATASET.SUBSAMPLE_CLASSES", "new")
    done.logs["fvgpt"] = run(repo, env, *fvgpt_run, "--output-dir", out / "fvgpt", *fvgpt_train_opts,
                             "DATASET.SUBSAMPLE_CLASSES", "base", "TRAINER.FVGPT.BACKBONE_DIR",
                             out / name, *after_backbone_dir)
    done.logs["fvgpt_new"] = run(repo, env, *fvgpt_run, "--output-dir", out / "fvgpt_new",
                                 "--eval-only", "--model-dir", out / "fvgpt", *fvgpt_test_opts,
                                 "DATASET.SUBSAMPLE_CLASSES", "new")
    return done


def coop_style_recipe(engine, folder, small_clip, fvgpt_only):
    """The README's recipe in the user's CoOp-style repository: CoOp on the base classes and
    its own --eval-only on the new ones, FVG-PT on that CoOp, FVG-PT on the new classes.
    Under the real Dassl ``import fvgpt`` comes last, after the user's own trainers."""
    env = engine_env(engine, fvgpt_only)
    repo, data, out = folder / "repo", folder / "data", folder / "output"
    write_user_repo(repo, import_fvgpt_first=engine == "builtin")
    write_toy_data(data)
    common = ["--root", data, "--seed", 1, "--dataset-config-file", "configs/datasets/toy.yaml"]
    coop = common + ["--trainer", "CoOp", "--config-file", "configs/trainers/CoOp/fast.yaml"]
    fvgpt_run = common + ["--trainer", "FVGPT_CoOp", "--config-file", FVGPT_CONFIG]
    opts = FAST + ["MODEL.BACKBONE.NAME", small_clip]
    done = Recipe(repo, data, out, env, common, fvgpt_run, opts)
    return backbone_then_fvgpt(done, coop, "coop", opts, opts, opts,
                               after_backbone_dir=["TEST.FOREGROUND_SHIFT_INDEX", "True"])


@pytest.fixture(scope="module")
def coop_style(small_clip, tmp_path_factory, fvgpt_only):
    """The CoOp-style repository's recipe under each engine (engine -> Future of its Recipe)."""
    return under_both_engines(coop_style_recipe, tmp_path_factory, "coop_style", small_clip, fvgpt_only)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_readme_drop_in_in_a_coop_style_repository(engine, coop_style):
    """The user's own CoOp evaluates with fvgpt imported, whatever the import order; FVG-PT
    reads N_CTX from the backbone's checkpoint, checks the masks, measures D_fg, records the
    backbone it is built on, and evaluates on the new classes from the last saved epoch."""
    done = coop_style[engine].result()
    out, log, new = done.out, done.logs["fvgpt"], done.logs["fvgpt_new"]
    assert "* accuracy" in done.logs["coop_new"]  # the user's own --eval-only

    assert f"Dassl engine: {engine} (" in log
    assert "TRAINER.COOP.N_CTX = 4, read from the backbone run" in log  # from the checkpoint's shape
    assert "Training masks checked: 4 ok (4 resized to their image)" in log
    assert "has no training_images.json" in log  # a backbone trained outside fvgpt's train.py
    assert re.search(r"\* foreground shift index D_fg: [\d.]+", log)  # by the trainer itself
    meta = torch.load(out / "fvgpt" / "fvgpt_head" / "model.pth.tar-1", weights_only=False)["fvgpt_meta"]
    assert meta["dir"] == str(out / "coop") and meta["epoch"] == 1 and meta["trainer"] == "CoOp"
    assert meta["dataset"] == "Toy" and meta["classnames"] == CLASSES[:2]

    assert "(no epoch given: the last saved epoch, 1)" in new
    assert f"Backbone from the checkpoint's record: {out / 'coop'} (epoch 1)" in new
    assert "Test-time branch: pc" in new and 0 <= accuracy(new) <= 100


def test_evaluating_fvgpt_on_another_backbone_is_refused(coop_style, tmp_path):
    """The CoOp-style recipe's FVG-PT head evaluated on a retrained CoOp (other context
    vectors, built-in engine) stops, naming both backbones' checkpoints."""
    done = coop_style["builtin"].result()
    shutil.copytree(done.out / "coop", tmp_path / "other_coop")
    checkpoint = tmp_path / "other_coop" / "prompt_learner" / "model.pth.tar-1"
    saved = torch.load(checkpoint, weights_only=False)
    saved["state_dict"]["ctx"] += 1.0
    torch.save(saved, checkpoint)
    code, refused = run(done.repo, done.env, *done.fvgpt_run, "--output-dir", tmp_path / "refused",
                        "--eval-only", "--model-dir", done.out / "fvgpt", "--load-epoch", 1,
                        *done.opts, "DATASET.SUBSAMPLE_CLASSES", "new",
                        "TRAINER.FVGPT.BACKBONE_DIR", tmp_path / "other_coop", check=False)
    assert code != 0 and "another backbone" in refused
    assert str(done.out / "coop" / "prompt_learner") in refused and str(checkpoint) in refused


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


# --- The other upstream families: what broke in their real repositories, in small repositories.

USER_FAMILY_TRAINER = '''"""The user's {name}: a context before the class name, saved as {name} saves it
(folder {folder}/, keys {keys})."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from dassl.engine import TRAINER_REGISTRY, TrainerX
from dassl.optim import build_lr_scheduler, build_optimizer
from dassl.utils import load_checkpoint


def context_words(cfg):
    {context_words}


class PromptLearner(nn.Module):
    def __init__(self, cfg, classnames, clip_model, tokenize):
        super().__init__()
        words = context_words(cfg)
        n_ctx = len(words.split())
        self.tokens = tokenize([words + " " + name.replace("_", " ") + "." for name in classnames])
        with torch.no_grad():
            embedding = clip_model.token_embedding(self.tokens)
        self.ctx = nn.Parameter(embedding[0, 1:1 + n_ctx].clone())
        self.register_buffer("token_prefix", embedding[:, :1])
        self.register_buffer("token_suffix", embedding[:, 1 + n_ctx:])

    def forward(self):
        ctx = self.ctx.unsqueeze(0).expand(len(self.tokens), -1, -1)
        return torch.cat([self.token_prefix, ctx, self.token_suffix], dim=1)


class CustomCLIP(nn.Module):
    def __init__(self, cfg, classnames, clip_model, tokenize):
        super().__init__()
        self.prompt_learner = PromptLearner(cfg, classnames, clip_model, tokenize)
        self.clip = clip_model

    def forward(self, image):
        m = self.clip
        x = self.prompt_learner() + m.positional_embedding
        x = m.ln_final(m.transformer(x.permute(1, 0, 2)).permute(1, 0, 2))
        text = x[torch.arange(x.shape[0]), self.prompt_learner.tokens.argmax(-1)] @ m.text_projection
        image = F.normalize(m.encode_image(image), dim=-1)
        return m.logit_scale.exp() * image @ F.normalize(text, dim=-1).t()


@TRAINER_REGISTRY.register()
class {name}(TrainerX):
    def build_model(self):
        {build_clip}
        self.model = CustomCLIP(self.cfg, self.dm.dataset.classnames, clip_model.float(), clip.tokenize)
        for name, param in self.model.named_parameters():
            param.requires_grad_("prompt_learner.ctx" in name)
        self.optim = build_optimizer(self.model.prompt_learner, self.cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, self.cfg.OPTIM)
        self.register_model("{folder}", self.model{saved}, self.optim, self.sched)

    def forward_backward(self, batch):
        image, label = batch["img"].to(self.device), batch["label"].to(self.device)
        loss = F.cross_entropy(self.model(image), label)
        self.model_backward_and_update(loss)
        if (self.batch_idx + 1) == self.num_batches:
            self.update_lr()
        return {{"loss": loss.item()}}

    def load_model(self, directory, epoch=None):
        state = load_checkpoint(f"{{directory}}/{folder}/model.pth.tar-{{epoch}}")["state_dict"]
        for key in [k for k in state if k.endswith(("token_prefix", "token_suffix"))]:
            del state[key]  # keep the current classes' tokens
        self.model{saved}.load_state_dict(state, strict=False)
'''

# KgCoOp (htyao89/KgCoOp, train.py extend_cfg): CTX_INIT is a bool; any true value means the
# hard-coded "a photo of a" (trainers/kgcoop.py); its Dassl fork has no INPUT.RRCROP_SCALE.
KGCOOP = dict(
    name="KgCoOp", folder="prompt_learner", keys="ctx, token_prefix, token_suffix", saved=".prompt_learner",
    context_words='return "a photo of a" if cfg.TRAINER.COOP.CTX_INIT else " ".join(["X"] * cfg.TRAINER.COOP.N_CTX)',
    build_clip=("import clip  # the installed one (KgCoOp's clip/ is OpenAI's)\n"
                "        from clip.model import build_model\n"
                "        clip_model = build_model(torch.load(self.cfg.MODEL.BACKBONE.NAME, map_location='cpu'))"),
    extend_cfg="""    cfg.TRAINER.COOP = CN()
    cfg.TRAINER.COOP.ALPHA = 1.0
    cfg.TRAINER.COOP.N_CTX = 16
    cfg.TRAINER.COOP.CSC = False
    cfg.TRAINER.COOP.CTX_INIT = False
    cfg.TRAINER.COOP.W = 1.0
    cfg.TRAINER.COOP.PREC = "fp32"
    cfg.TRAINER.COOP.CLASS_TOKEN_POSITION = "end"
    cfg.LOSS = CN()
    cfg.LOSS.GM = False
""",
    own_config="TRAINER:\n  COOP:\n    CTX_INIT: True\n")

# PromptSRC (muzairkhattak/PromptSRC): its own clip/ next to train.py, whose build_model takes
# design_details; its checkpoint folder VLPromptLearner holds the whole model.
PROMPTSRC = dict(
    name="PromptSRC", folder="VLPromptLearner", keys="prompt_learner.ctx, ...", saved="",
    context_words="return cfg.TRAINER.PROMPTSRC.CTX_INIT",
    build_clip=("from clip import clip  # the repository's own clip/ (first on sys.path)\n"
                "        from clip.model import build_model\n"
                "        design = {'trainer': 'IVLP', 'vision_depth': 0, 'language_depth': 1}\n"
                "        clip_model = build_model(torch.load(self.cfg.MODEL.BACKBONE.NAME, map_location='cpu'), design)"),
    extend_cfg="""    cfg.TRAINER.PROMPTSRC = CN()
    cfg.TRAINER.PROMPTSRC.N_CTX_VISION = 4
    cfg.TRAINER.PROMPTSRC.N_CTX_TEXT = 4
    cfg.TRAINER.PROMPTSRC.CTX_INIT = "a photo of a"
    cfg.TRAINER.PROMPTSRC.PREC = "fp16"
    cfg.TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION = 9
    cfg.TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT = 9
    cfg.TRAINER.PROMPTSRC.TEXT_LOSS_WEIGHT = 25
    cfg.TRAINER.PROMPTSRC.IMAGE_LOSS_WEIGHT = 10
    cfg.TRAINER.PROMPTSRC.GPA_MEAN = 15
    cfg.TRAINER.PROMPTSRC.GPA_STD = 1
""",
    own_config="TRAINER:\n  PROMPTSRC:\n    PROMPT_DEPTH_VISION: 0\n    PROMPT_DEPTH_TEXT: 1\n")


def vendored_clip(folder):
    """A repository's own clip/ as PromptSRC ships it: OpenAI's code whose build_model takes a
    second argument (and which does not import pkg_resources), written from the installed one."""
    from fvgpt.clip_import import installed_clip_folder

    shutil.copytree(installed_clip_folder(), folder, ignore=shutil.ignore_patterns("__pycache__"))
    with open(os.path.join(folder, "model.py")) as f:
        model = f.read()
    model = re.sub(r"def build_model\(state_dict: dict\):",
                   "def build_model(state_dict: dict, design_details):\n"
                   "    print('vendored clip: build_model with', sorted(design_details))", model)
    with open(os.path.join(folder, "model.py"), "w") as f:
        f.write(model)
    with open(os.path.join(folder, "clip.py")) as f:
        code = f.read().replace("from pkg_resources import packaging", "import packaging.version\nimport packaging")
    with open(os.path.join(folder, "clip.py"), "w") as f:
        f.write(code)


def dassl_fork(dassl_path, target):
    """A Dassl like KgCoOp's Dassl.ProGrad.pytorch: ``dassl.data.transforms`` does not export
    INTERPOLATION_MODES and the config has no INPUT.RRCROP_SCALE (written from $DASSL_PATH)."""
    shutil.copytree(os.path.join(dassl_path, "dassl"), os.path.join(target, "dassl"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    edits = {
        "data/transforms/__init__.py": [("INTERPOLATION_MODES, ", "")],
        "data/data_manager.py": [("from .transforms import INTERPOLATION_MODES, build_transform",
                                  "from .transforms import build_transform\n"
                                  "from .transforms.transforms import INTERPOLATION_MODES")],
        "config/defaults.py": [("_C.INPUT.RRCROP_SCALE = (0.08, 1.0)", "")],
        "data/transforms/transforms.py": [("s_ = cfg.INPUT.RRCROP_SCALE", "s_ = (0.08, 1.0)")],
    }
    for rel, replacements in edits.items():
        path = os.path.join(target, "dassl", rel)
        with open(path) as f:
            text = f.read()
        for old, new in replacements:
            assert old in text, (rel, old)
            text = text.replace(old, new)
        with open(path, "w") as f:
            f.write(text)
    return str(target)


def write_family_repo(path, family, import_fvgpt_first):
    module = family["name"].lower()
    trainer = USER_FAMILY_TRAINER.format(**{k: family[k] for k in (
        "name", "folder", "keys", "saved", "context_words", "build_clip")})
    write_files(path, {
        "train.py": user_train_py(import_fvgpt_first, module, family["extend_cfg"]),
        "trainers/__init__.py": "", f"trainers/{module}.py": trainer, "toy_data.py": USER_DATA,
        "configs/datasets/toy.yaml": 'DATASET:\n  NAME: "Toy"\n',
        f"configs/trainers/{family['name']}/fast.yaml": USER_COOP_CONFIG.replace(
            "TRAINER:\n  COOP:\n    N_CTX: 4\n", family["own_config"]),
    })
    if family is PROMPTSRC:
        vendored_clip(os.path.join(path, "clip"))


def family_recipe(family, engine, folder, small_clip, fvgpt_only):
    """The recipe in a ``family``-style repository: its own trainer on the base classes and its
    own --eval-only on the new ones, FVG-PT on it (KgCoOp's CTX_INIT given as upstream's own
    bool), FVG-PT on the new classes. Real Dassl for KgCoOp: its fork (``dassl_fork``)."""
    name = family["name"]
    fork = dassl_fork(os.environ["DASSL_PATH"], folder / "fork") if (
        engine == "real" and family is KGCOOP and os.environ.get("DASSL_PATH")) else None
    env = engine_env(engine, fvgpt_only, fork)
    repo, data, out = folder / "repo", folder / "data", folder / "output"
    write_family_repo(repo, family, import_fvgpt_first=engine == "builtin")
    write_toy_data(data)
    common = ["--root", data, "--seed", 1, "--dataset-config-file", "configs/datasets/toy.yaml"]
    own = common + ["--trainer", name, "--config-file", f"configs/trainers/{name}/fast.yaml"]
    fvgpt_run = common + ["--trainer", f"FVGPT_{name}", "--config-file",
                          os.path.join(REPO, "configs", "trainers", f"FVGPT_{name}", "vit_b16_ep10.yaml")]
    opts = FAST + ["MODEL.BACKBONE.NAME", small_clip]
    done = Recipe(repo, data, out, env, common, fvgpt_run, opts)
    done.fork = fork
    extra = ["TRAINER.COOP.CTX_INIT", "True"] if family is KGCOOP else []  # upstream's value
    return backbone_then_fvgpt(done, own, "own", opts, opts + extra, opts)


@pytest.fixture(scope="module", params=[KGCOOP, PROMPTSRC], ids=["KgCoOp", "PromptSRC"])
def upstream_style(request, small_clip, tmp_path_factory, fvgpt_only):
    """A family's recipe under each engine: (family, engine -> Future of its Recipe)."""
    family = request.param
    return family, under_both_engines(functools.partial(family_recipe, family), tmp_path_factory,
                                      family["name"], small_clip, fvgpt_only)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_drop_in_in_an_upstream_style_repository(upstream_style, engine):
    """The repository's own trainer trains and evaluates, FVG-PT trains on it and evaluates on
    the new classes, with what broke in the real repository: KgCoOp's bool CTX_INIT (given as
    upstream's own value) and its Dassl fork; PromptSRC's own clip/ first on sys.path."""
    family, runs = upstream_style
    done = runs[engine].result()
    log, new = done.logs["fvgpt"], done.logs["fvgpt_new"]
    assert 0 <= accuracy(done.logs["own_new"]) <= 100  # the repository's own trainer, with fvgpt imported
    assert f"Dassl engine: {engine} (" in log
    if done.fork:
        assert f"Dassl engine: real ({done.fork}" in log
    assert "(no epoch given: the last saved epoch, 1)" in new
    assert "Test-time branch: pc" in new and 0 <= accuracy(new) <= 100
    if family is KGCOOP:
        assert 'CoOp context: "a photo of a" (4 tokens' in log
        assert "TRAINER.COOP.N_CTX = 4, read from the backbone run" in log
    else:
        assert "vendored clip: build_model with ['language_depth', 'trainer', 'vision_depth']" in done.logs["own"]
        assert "TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT = 1, read from the backbone run" in log
        assert "TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION = 0, read from the backbone run" in log


def test_a_setting_that_contradicts_the_backbone_run_stops(upstream_style, tmp_path):
    """FVG-PT on the family's backbone run (built-in engine) with its N_CTX (KgCoOp) or its text
    prompt depth (PromptSRC) set otherwise on the command line stops, naming both values."""
    family, runs = upstream_style
    done = runs["builtin"].result()
    key = "TRAINER.COOP.N_CTX" if family is KGCOOP else "TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT"
    code, refused = run(done.repo, done.env, *done.fvgpt_run, "--output-dir", tmp_path / "refused",
                        *done.opts, key, 2, "DATASET.SUBSAMPLE_CLASSES", "base",
                        "TRAINER.FVGPT.BACKBONE_DIR", done.out / "own", check=False)
    wanted = 4 if family is KGCOOP else 1
    assert code != 0 and f"{key}: 2 in this run, {wanted} in the backbone run" in refused, refused[-2000:]


# MMRL (yunncheng/MMRL): train.py reads per-data-set settings whose reader asserts the trainer
# name, with TASK taken from the command line (trainers/config.py, train.py setup_cfg).
USER_MMRL_SETTINGS = '''"""Per-data-set settings, read as MMRL\'s trainers/config.py reads them."""


def get_dataset_specified_config(dataset, trainer, task):
    assert task in ["B2N", "FS", "CD"], "The TASK must be either B2N, CD, or FS."
    assert trainer in ["MMRL", "MMRLpp"], "The TRAINER must be either MMRL or MMRLpp."
    return {"Toy": ["TRAINER.MMRL.REG_WEIGHT", 0.5]}.get(dataset, [])
'''
MMRL_UPSTREAM_LINE = ("    cfg.merge_from_list(get_dataset_specified_config(dataset=cfg.DATASET.NAME, "
                      "trainer=cfg.TRAINER.NAME, task=args.opts[args.opts.index('TASK') + 1]))")

USER_MMRL = '''"""The user\'s MMRL trainer: TASK-dependent test branch, the whole model saved under
MultiModalRepresentationLearner/ as MMRL saves it. Its model is fvgpt\'s MMRLCLIP, which has
upstream\'s state-dict keys (what this repository reproduces is MMRL\'s train.py)."""
import torch
import torch.nn.functional as F
from dassl.engine import TRAINER_REGISTRY, TrainerX
from dassl.optim import build_lr_scheduler, build_optimizer
from dassl.utils import load_checkpoint


@TRAINER_REGISTRY.register()
class MMRL(TrainerX):
    def build_model(self):
        from clip.model import build_model
        from fvgpt.backbones.mmrl import TRAINABLE, MMRLCLIP

        clip_model = build_model(torch.load(self.cfg.MODEL.BACKBONE.NAME, map_location="cpu")).float()
        self.model = MMRLCLIP(self.cfg.TRAINER.MMRL, self.dm.dataset.classnames, clip_model,
                              "a photo of a {}.").to(self.device)
        for name, param in self.model.named_parameters():
            param.requires_grad_(name.startswith(TRAINABLE))
        self.optim = build_optimizer(self.model, self.cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, self.cfg.OPTIM)
        self.register_model("MultiModalRepresentationLearner", self.model, self.optim, self.sched)

    def forward_backward(self, batch):
        image, label = batch["img"].to(self.device), batch["label"].to(self.device)
        logits, logits_rep = self.model(image)[:2]
        alpha = self.cfg.TRAINER.MMRL.ALPHA
        loss = alpha * F.cross_entropy(logits, label) + (1 - alpha) * F.cross_entropy(logits_rep, label)
        self.model_backward_and_update(loss)
        if (self.batch_idx + 1) == self.num_batches:
            self.update_lr()
        return {"loss": loss.item()}

    @torch.no_grad()
    def model_inference(self, image):
        class_features, tokens = self.model.inference_state()
        f_cls, f_rep = self.model.encode_image(image, tokens)
        logits = 100 * f_cls @ class_features.t()
        if self.cfg.TASK == "B2N" and self.cfg.DATASET.SUBSAMPLE_CLASSES == "base":
            alpha = self.cfg.TRAINER.MMRL.ALPHA
            logits = alpha * logits + (1 - alpha) * 100 * f_rep @ class_features.t()
        return logits

    def load_model(self, directory, epoch=None):
        state = load_checkpoint(f"{directory}/MultiModalRepresentationLearner/model.pth.tar-{epoch}")["state_dict"]
        state.pop("prompt_embeddings", None)  # the trained classes\' prompts
        self.model.load_state_dict(state, strict=False)
'''

MMRL_EXTEND_CFG = """    cfg.TRAINER.MMRL = CN()
    cfg.TRAINER.MMRL.ALPHA = 0.7
    cfg.TRAINER.MMRL.REG_WEIGHT = 1.0
    cfg.TRAINER.MMRL.REP_LAYERS = []
    cfg.TRAINER.MMRL.REP_DIM = 512
    cfg.TRAINER.MMRL.N_REP_TOKENS = 5
    cfg.TRAINER.MMRL.PREC = "fp16"
    cfg.TASK = "B2N"
"""


def mmrl_changed_line():
    """The line docs/drop_in.md gives for MMRL\'s setup_cfg (its upstream form, trainer name changed)."""
    line = next(l for l in drop_in_recipe().splitlines() if "get_dataset_specified_config(" in l)
    assert line.replace('.replace("FVGPT_", "", 1)', "") == MMRL_UPSTREAM_LINE
    return line


def write_mmrl_repo(path, import_fvgpt_first, setup_line):
    train_py = user_train_py(import_fvgpt_first, "mmrl", MMRL_EXTEND_CFG, setup_line).replace(
        "import toy_data  # noqa: F401", "import toy_data  # noqa: F401\nfrom trainers.config import get_dataset_specified_config")
    write_files(path, {
        "train.py": train_py, "trainers/__init__.py": "", "trainers/mmrl.py": USER_MMRL,
        "trainers/config.py": USER_MMRL_SETTINGS, "toy_data.py": USER_DATA,
        "configs/datasets/toy.yaml": 'DATASET:\n  NAME: "Toy"\n',
        "configs/trainers/MMRL/fast.yaml": USER_COOP_CONFIG.replace(
            "TRAINER:\n  COOP:\n    N_CTX: 4\n", "TRAINER:\n  MMRL:\n    REP_LAYERS: [1]\n    PREC: fp32\n"),
    })


def mmrl_recipe(engine, folder, small_clip, fvgpt_only):
    """The recipe in an MMRL-style repository with the changed line of docs/drop_in.md: its own
    trainer on the base classes and on the new ones, FVG-PT on it and on the new classes, TASK
    on every command (and REP_LAYERS, as the backbone run's, on FVG-PT's)."""
    env = engine_env(engine, fvgpt_only)
    repo, data, out = folder / "repo", folder / "data", folder / "output"
    write_mmrl_repo(repo, engine == "builtin", mmrl_changed_line())
    write_toy_data(data)
    common = ["--root", data, "--seed", 1, "--dataset-config-file", "configs/datasets/toy.yaml"]
    own = common + ["--trainer", "MMRL", "--config-file", "configs/trainers/MMRL/fast.yaml"]
    fvgpt_run = common + ["--trainer", "FVGPT_MMRL", "--config-file",
                          os.path.join(REPO, "configs", "trainers", "FVGPT_MMRL", "vit_b16_ep10.yaml")]
    opts = FAST + ["MODEL.BACKBONE.NAME", small_clip, "TASK", "B2N"]
    fvgpt_opts = opts + ["TRAINER.MMRL.REP_LAYERS", "[1]"]  # the backbone run's layers
    done = Recipe(repo, data, out, env, common, fvgpt_run, fvgpt_opts)
    return backbone_then_fvgpt(done, own, "own", opts, fvgpt_opts, fvgpt_opts)


@pytest.fixture(scope="module")
def mmrl_style(small_clip, tmp_path_factory, fvgpt_only):
    """The MMRL-style repository's recipe under each engine (engine -> Future of its Recipe)."""
    return under_both_engines(mmrl_recipe, tmp_path_factory, "mmrl_style", small_clip, fvgpt_only)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_drop_in_in_an_mmrl_style_repository(engine, mmrl_style):
    """MMRL's own trainer and FVG-PT train and evaluate; REP_LAYERS, which upstream's
    checkpoint does not record, is named in a warning."""
    done = mmrl_style[engine].result()
    assert 0 <= accuracy(done.logs["own_new"]) <= 100
    assert "WARNING: TRAINER.MMRL.REP_LAYERS = [1] cannot be checked" in done.logs["fvgpt"]
    new = done.logs["fvgpt_new"]
    assert "MMRL branch: cls logits" in new and "Test-time branch: pc" in new
    assert 0 <= accuracy(new) <= 100


def test_mmrls_unchanged_line_refuses_the_fvgpt_trainer(mmrl_style, tmp_path):
    """The same repository with upstream's unchanged setup_cfg line (built-in engine): MMRL's
    settings reader refuses the FVG-PT trainer's name."""
    done = mmrl_style["builtin"].result()
    write_mmrl_repo(tmp_path / "repo", True, MMRL_UPSTREAM_LINE)
    code, refused = run(tmp_path / "repo", done.env, *done.fvgpt_run, "--output-dir", tmp_path / "refused",
                        *done.opts, "DATASET.SUBSAMPLE_CLASSES", "base",
                        "TRAINER.FVGPT.BACKBONE_DIR", done.out / "own", check=False)
    assert code != 0 and "The TRAINER must be either MMRL or MMRLpp." in refused


def test_upstream_kgcoop_config_files_merge_into_this_train_py(tmp_path):
    """KgCoOp's own files set CTX_INIT to a bool (configs/trainers/KgCoOp/vit_b16_ep100_ctxv1.yaml);
    this project declares it a string of words: True is KgCoOp's "a photo of a", False is ""."""
    from dassl.config import get_cfg_default

    from fvgpt.backbones.coop import context_init_words
    from fvgpt.config import add_project_config, config_opts, merge_config_file

    upstream = tmp_path / "vit_b16_ep100_ctxv1.yaml"
    upstream.write_text("OPTIM:\n  MAX_EPOCH: 100\nTRAINER:\n  COOP:\n    CTX_INIT: True\n")
    cfg = get_cfg_default()
    add_project_config(cfg)
    merge_config_file(cfg, str(upstream))
    assert cfg.TRAINER.COOP.CTX_INIT == "a photo of a" and cfg.OPTIM.MAX_EPOCH == 100
    cfg.merge_from_list(config_opts(cfg, ["TRAINER.COOP.CTX_INIT", "False", "TRAINER.COOP.N_CTX", "4"]))
    assert cfg.TRAINER.COOP.CTX_INIT == "" and cfg.TRAINER.COOP.N_CTX == 4
    assert [context_init_words(v) for v in (True, False, "", "a_good photo")] == [
        "a photo of a", "", "", "a good photo"]
