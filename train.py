"""Command-line entry point with CoOp's interface (KaiyangZhou/CoOp, train.py)."""
import argparse
import functools
import importlib
import sys

import torch

import fvgpt  # noqa: F401  makes `dassl` importable (real, else built-in); registers FVGPT_*
from dassl.config import get_cfg_default
from dassl.engine import TRAINER_REGISTRY, build_trainer
from dassl.utils import collect_env_info, set_random_seed, setup_logger

from fvgpt import run_folder
from fvgpt.backbone_settings import BackboneSettingsError
from fvgpt.built_on import BuiltOnError
from fvgpt.backbones.registry import BACKBONES
from fvgpt.config import (UnknownConfigKey, add_project_config, config_opts, merge_checked,
                          merge_config_file)
from fvgpt.trainer import FVGPTTrainer
from fvgpt.training_images import record_training_images

import datasets.all  # noqa: F401  registers every dataset reader
import trainers.zsclip  # noqa: F401

for backbone in BACKBONES.values():
    importlib.import_module(backbone.trainer_module)  # registers the backbone's trainer


def reset_cfg(cfg, args):
    """Command-line flags override the config files (as in CoOp)."""
    if args.root:
        cfg.DATASET.ROOT = args.root
    if args.output_dir:
        cfg.OUTPUT_DIR = args.output_dir
    if args.resume:
        cfg.RESUME = args.resume
    if args.seed:
        cfg.SEED = args.seed
    if args.source_domains:
        cfg.DATASET.SOURCE_DOMAINS = args.source_domains
    if args.target_domains:
        cfg.DATASET.TARGET_DOMAINS = args.target_domains
    if args.transforms:
        cfg.INPUT.TRANSFORMS = args.transforms
    if args.trainer:
        cfg.TRAINER.NAME = args.trainer
    if args.backbone:
        cfg.MODEL.BACKBONE.NAME = args.backbone
    if args.head:
        cfg.MODEL.HEAD.NAME = args.head


def setup_cfg(args):
    cfg = get_cfg_default()
    add_project_config(cfg)
    if args.dataset_config_file:
        merge_checked(cfg, lambda: merge_config_file(cfg, args.dataset_config_file),
                      args.dataset_config_file)
    if args.config_file:  # also upstream KgCoOp's (bool CTX_INIT)
        merge_checked(cfg, lambda: merge_config_file(cfg, args.config_file), args.config_file)
    reset_cfg(cfg, args)
    opts = config_opts(cfg, args.opts)
    merge_checked(cfg, lambda: cfg.merge_from_list(opts), "the command line")
    for backbone in BACKBONES.values():
        if backbone.adjust_config:
            backbone.adjust_config(cfg, opts)
    cfg.freeze()
    return cfg


# Errors whose message says all (the file or key, and the fix): shown without a traceback.
USER_ERRORS = (run_folder.RunFolderError, UnknownConfigKey, BuiltOnError, BackboneSettingsError)


def take_backbone_settings(cfg):
    """FVG-PT on a given backbone run: its settings (N_CTX, depths, ...) into ``cfg`` before the
    run folder records it (the trainer would take them when built)."""
    name, fv = cfg.TRAINER.NAME, cfg.TRAINER.FVGPT
    if name in TRAINER_REGISTRY.registered_names() and fv.BACKBONE_DIR:
        trainer_class = TRAINER_REGISTRY.get(name)
        if issubclass(trainer_class, FVGPTTrainer):
            trainer_class.take_backbone_settings(cfg, fv.BACKBONE_DIR, fv.BACKBONE_EPOCH)


@functools.lru_cache(maxsize=None)
def system_info():
    """Dassl's environment report (it runs pip: once per process, for runs made in one)."""
    return collect_env_info()


def main(args):
    try:
        run(args)
    except USER_ERRORS as err:
        sys.exit(f"train.py: {err}")


def run(args):
    cfg = setup_cfg(args)
    take_backbone_settings(cfg)
    run_folder.check_resume_folder(cfg.RESUME, cfg.OUTPUT_DIR)
    settings = run_folder.run_settings(cfg, args.eval_only, args.model_dir, args.load_epoch)
    if not args.no_train:
        if args.start_over:
            run_folder.start_over(cfg.OUTPUT_DIR)
        if run_folder.check(cfg.OUTPUT_DIR, settings):
            return
        run_folder.lock(cfg.OUTPUT_DIR)  # held until this process ends
    if cfg.SEED >= 0:
        print(f"Setting fixed seed: {cfg.SEED}")
        set_random_seed(cfg.SEED)
    setup_logger(cfg.OUTPUT_DIR)
    if torch.cuda.is_available() and cfg.USE_CUDA:
        torch.backends.cudnn.benchmark = True
    print(f"Dassl engine: {fvgpt.dassl_backend.engine_description()}")
    print(cfg)
    print(f"** System info **\n{system_info()}\n")

    trainer = build_trainer(cfg)  # checks names, choices, weights and checkpoints
    if args.eval_only:
        if not args.model_dir and trainer.get_model_names():
            raise run_folder.RunFolderError(
                f"--eval-only needs --model-dir for {cfg.TRAINER.NAME}: the --output-dir of "
                "the training run to evaluate (with --load-epoch for one of its saved epochs; "
                "without it, model-best.pth.tar where saved, else the last epoch). Nothing was "
                "written.")
        trainer.load_model(args.model_dir, epoch=args.load_epoch)
    elif not args.no_train:
        trainer.check_inputs()  # e.g. FVG-PT's masks and backbone
    if not args.no_train:  # every input checked: claim the folder
        run_folder.prepare(cfg.OUTPUT_DIR, settings)
    if args.eval_only:
        trainer.test()
    elif not args.no_train:
        # which images this run trains on (FVG-PT checks its backbone's)
        record_training_images(cfg, trainer.dm.dataset, cfg.OUTPUT_DIR)
        trainer.train()


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=str, default="", help="path to dataset")
    parser.add_argument("--output-dir", type=str, default="", help="output directory")
    parser.add_argument("--resume", type=str, default="", help="checkpoint directory to resume from")
    parser.add_argument("--seed", type=int, default=-1, help="only a positive value fixes the seed")
    parser.add_argument("--source-domains", type=str, nargs="+", help="source domains for DA/DG")
    parser.add_argument("--target-domains", type=str, nargs="+", help="target domains for DA/DG")
    parser.add_argument("--transforms", type=str, nargs="+", help="data augmentation methods")
    parser.add_argument("--config-file", type=str, default="", help="path to the trainer config")
    parser.add_argument("--dataset-config-file", type=str, default="", help="path to the dataset config")
    parser.add_argument("--trainer", type=str, default="", help="name of trainer")
    parser.add_argument("--backbone", type=str, default="", help="name of CNN backbone")
    parser.add_argument("--head", type=str, default="", help="name of head")
    parser.add_argument("--eval-only", action="store_true", help="evaluation only")
    parser.add_argument("--model-dir", type=str, default="", help="load the model from this directory (eval-only)")
    parser.add_argument("--load-epoch", type=int, help="load the weights saved at this epoch (eval-only)")
    parser.add_argument("--no-train", action="store_true", help="do not call trainer.train()")
    parser.add_argument("--start-over", action="store_true",
                        help="move an existing run in --output-dir aside and start again")
    parser.add_argument("opts", default=None, nargs=argparse.REMAINDER,
                        help="modify config options using the command line")
    return parser


if __name__ == "__main__":
    main(build_parser().parse_args())
