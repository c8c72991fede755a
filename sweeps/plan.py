"""A sweep description and the runs it expands to, with their dependencies.

Base-to-new (paper Table 1), per backbone, data set and seed:
    backbone train (base classes) -> backbone test (new classes)
    backbone train -> FVG-PT train (base classes) -> FVG-PT test (new classes)
Cross-dataset (paper Table 2), per backbone and seed, source ImageNet (all classes):
    backbone train (source) -> backbone test on each target
    backbone train -> FVG-PT train (source) -> FVG-PT test on each target (z_PC)
Each run is one ``train.py`` call writing to its own folder, laid out as
scripts/base2new_common.sh does: ``<output>/<stage>/<dataset>/shots_<K>/<trainer>/<cfg>/seed<S>``.
"""
import glob
import json
import os
import shlex
import sys
from dataclasses import asdict, dataclass, field

import yaml

from fvgpt.checkpoints import atomic_write_text
from fvgpt.results import RESULT_FILE, RunNotFinished, read_run

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class Backbone:
    """One line of BACKBONES: a backbone trainer, its FVG-PT trainer and their configs.

    ``configs`` maps a protocol (``base2new``, ``xd``) or ``<protocol>/<dataset>`` to a config
    name under ``configs/trainers/<trainer>/``; the FVG-PT trainer uses the file of the same
    name under its own folder. ``config_dir`` overrides the backbone's folder; ``zero_shot``
    backbones are only evaluated.
    """

    trainer: str
    fvgpt_trainer: str = None
    configs: dict = field(default_factory=dict)
    config_dir: str = None
    zero_shot: bool = False

    def config(self, protocol, dataset, override=None):
        if override:
            return override
        name = self.configs.get(f"{protocol}/{dataset}") or self.configs.get(protocol)
        if name is None:
            raise ValueError(f"Backbone {self.trainer} has no config for protocol {protocol!r}: "
                             "add one to its line in sweeps/plan.py BACKBONES or pass --config.")
        return name


# A new backbone joins the sweep with one line here (and its entry in sweeps/paper.py, if the
# paper reports it). EuroSAT trains 20 epochs (paper Supp. 0.C, Table 15).
BACKBONES = {
    "ZeroshotCLIP": Backbone("ZeroshotCLIP", None, {"base2new": "vit_b16_ep10", "xd": "vit_b16_ep10"},
                             config_dir="CoOp", zero_shot=True),
    "CoOp": Backbone("CoOp", "FVGPT_CoOp", {"base2new": "vit_b16_ep10", "base2new/eurosat": "vit_b16_ep20",
                                            "xd": "vit_b16_xd"}),
    "KgCoOp": Backbone("KgCoOp", "FVGPT_KgCoOp", {"base2new": "vit_b16_ep10",
                                                  "base2new/eurosat": "vit_b16_ep20", "xd": "vit_b16_xd"}),
    "PromptSRC": Backbone("PromptSRC", "FVGPT_PromptSRC", {"base2new": "vit_b16_ep10",
                                                           "base2new/eurosat": "vit_b16_ep20",
                                                           "xd": "vit_b16_xd"}),
    "MMRL": Backbone("MMRL", "FVGPT_MMRL", {"base2new": "vit_b16", "xd": "vit_b16_cross_datasets"}),
}

# configs/datasets/ names of the paper's 11 data sets, in Table 1's order, and Table 2's targets.
PAPER_DATASETS = ["imagenet", "caltech101", "food101", "stanford_cars", "oxford_pets",
                  "oxford_flowers", "dtd", "eurosat", "fgvc_aircraft", "sun397", "ucf101"]
XD_SOURCE = "imagenet"
XD_TARGETS = ["caltech101", "oxford_pets", "stanford_cars", "oxford_flowers", "food101",
              "fgvc_aircraft", "sun397", "dtd", "eurosat", "ucf101"]
STAGES = {"base2new": ("train_base", "test_new"), "xd": ("train", "test")}
DESCRIPTION_FILE = "sweep.json"


@dataclass
class Sweep:
    """What to run: protocol, backbones, data sets (xd: targets), seeds, configs, extra options."""

    protocol: str
    backbones: list
    datasets: list
    seeds: list
    root: str
    output: str
    shots: int = 16
    config: str = None  # one config name for every trainer instead of the BACKBONES choice
    opts: list = field(default_factory=list)  # yacs options added to every run
    # TRAINER.FVGPT.REPLAY_CACHE of the FVG-PT training runs (docs/replay.md); "" = off, None =
    # <folder above output>/replay_cache, shared by the sweeps of one output folder (variants)
    replay_cache: str = None

    def __post_init__(self):
        if self.protocol not in STAGES:
            raise ValueError(f"protocol must be one of {sorted(STAGES)}, got {self.protocol!r}")
        unknown = [b for b in self.backbones if b not in BACKBONES]
        if unknown:
            raise ValueError(f"Unknown backbone(s) {unknown}: known are {sorted(BACKBONES)} "
                             "(sweeps/plan.py BACKBONES)")
        owned = [k for k in self.opts[::2] if k in ("DATASET.NUM_SHOTS", "DATASET.SUBSAMPLE_CLASSES")]
        if owned:
            raise ValueError(f"{owned} are set by the sweep (shots: --shots; classes: the "
                             "protocol), as the run folders are named after them: drop them "
                             "from the options.")
        if self.replay_cache is None:
            self.replay_cache = os.path.join(os.path.dirname(os.path.abspath(self.output)),
                                             "replay_cache")
        for d in self.datasets_used():
            if not os.path.isfile(dataset_config(d)):
                raise ValueError(f"No data set config {dataset_config(d)}: data sets are named "
                                 "by their file under configs/datasets/ (e.g. oxford_pets)")

    def datasets_used(self):
        return [XD_SOURCE] + self.datasets if self.protocol == "xd" else list(self.datasets)

    def request(self):
        """What was asked for, without where it was written (the folder holding sweep.json)."""
        return {k: v for k, v in asdict(self).items() if k != "output"}

    def save(self):
        """Add this sweep to the folder's sweep.json, which keeps every sweep asked for there.

        A sweep must share protocol, shots, config and options with those already recorded
        (the run folders are named after them); else ``ValueError`` and nothing is written.
        """
        requests = _recorded_requests(self.output)
        mine = self.request()
        for old in requests:
            differing = [k for k in SHARED_KEYS if old[k] != mine[k]]
            if differing:
                raise ValueError(
                    f"{os.path.join(self.output, DESCRIPTION_FILE)} records a sweep with other "
                    + ", ".join(f"{k} ({old[k]!r} there, {mine[k]!r} now)" for k in differing)
                    + ": its runs would mix with these. Nothing was changed. Give this sweep "
                    "another --output, or repeat the recorded settings.")
        if mine not in requests:
            os.makedirs(self.output, exist_ok=True)
            atomic_write_text(os.path.join(self.output, DESCRIPTION_FILE),
                              json.dumps({"requests": requests + [mine]}, indent=1))

    @classmethod
    def load(cls, output):
        """Every sweep asked for in ``output`` as one: the union of their backbones, data sets
        and seeds, with the runs read under ``output`` wherever the folder now is. Without
        sweep.json, the sweep its run folders show (see ``infer``)."""
        requests = _recorded_requests(output)
        if not requests:
            return infer(output)
        union = {key: [] for key in ("backbones", "datasets", "seeds")}
        for request in requests:
            for key, values in union.items():
                values += [v for v in request[key] if v not in values]
        return cls(**{**requests[-1], **union, "seeds": sorted(union["seeds"]),
                      "output": os.path.abspath(output)})


# What every sweep recorded in one folder shares: the run folders are named after them.
SHARED_KEYS = ("protocol", "shots", "config", "opts")


def _recorded_requests(output):
    """The sweeps recorded in ``output``'s sweep.json, oldest first ([] without one)."""
    path = os.path.join(output, DESCRIPTION_FILE)
    if not os.path.isfile(path):
        return []
    try:
        with open(path) as f:
            recorded = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} cannot be read ({err}). Restore it, or move it aside: "
                         "python -m sweeps.tables then reads the sweep from its run folders "
                         "and python -m sweeps.run writes a new one.") from None
    if "requests" not in recorded:  # written before sweep.json kept every sweep: one sweep
        recorded = {"requests": [{k: v for k, v in recorded.items() if k != "output"}]}
    return recorded["requests"]


def infer(output):
    """The sweep behind runs made without ``sweeps.run`` (e.g. by scripts/<trainer>/*.sh).

    Backbones, data sets, shots and seeds are those found in the folder layout; a config
    other than BACKBONES' choice is taken when all runs share it.
    """
    for protocol, (train_stage, test_stage) in STAGES.items():
        found = [os.path.relpath(p, output).split(os.sep) for stage in (train_stage, test_stage)
                 for p in glob.glob(os.path.join(output, stage, "*", "shots_*", "*", "*", "seed*"))]
        if found:
            break
    else:
        raise FileNotFoundError(f"No sweep in {output}: neither {DESCRIPTION_FILE} (written by "
                                "python -m sweeps.run) nor run folders <stage>/<dataset>/shots_<K>/"
                                "<trainer>/<cfg>/seed<S>.")
    trainers = {f[3] for f in found}
    backbones = [n for n, b in BACKBONES.items() if b.trainer in trainers]
    configs = {f[4] for f in found}
    datasets = sorted({f[1] for f in found if protocol == "base2new" or f[0] == test_stage})
    sweep = Sweep(protocol, backbones, datasets, sorted({int(f[5][4:]) for f in found}),
                  root="", output=os.path.abspath(output), shots=int(found[0][2][6:]))
    chosen = {os.path.normpath(r.name).split(os.sep)[4] for r in expand(sweep)}
    if configs != chosen and len(configs) == 1:
        sweep.config = configs.pop()
    return sweep


@dataclass
class Run:
    """One train.py call: what it is, where it writes, which runs must finish first."""

    name: str  # the output folder relative to the sweep's output, unique in the sweep
    args: list  # train.py arguments
    deps: list  # names of the runs it needs
    backbone: str
    method: str  # the backbone's name, or "<backbone> + FVG-PT"
    dataset: str
    seed: int
    split: str  # base | new (base2new); source | target (xd)

    def out_dir(self, sweep):
        return os.path.join(sweep.output, self.name)

    def command(self):
        return [sys.executable, "train.py"] + self.args

    def result(self, sweep):
        """The finished run's result (see fvgpt.results.read_run), or None."""
        try:
            return read_run(self.out_dir(sweep))
        except RunNotFinished:
            return None

    def unreadable_result(self, sweep):
        """What is wrong with a result.json that exists but cannot be read, with the fix;
        None when there is none or it reads."""
        path = os.path.join(self.out_dir(sweep), RESULT_FILE)
        if not os.path.isfile(path):
            return None
        try:
            read_run(self.out_dir(sweep))
        except RunNotFinished as err:
            return (f"{err}: the run was stopped while writing it, or the file was damaged. "
                    f"Move it aside (mv {shlex.quote(path)} {shlex.quote(path)}.bad) and run the "
                    "same python -m sweeps.run command again: the run resumes from its last "
                    "checkpoint and writes it anew.")
        return None


def dataset_config(dataset):
    return os.path.join(REPO, "configs", "datasets", f"{dataset}.yaml")


def trainer_config(trainer_dir, name):
    path = os.path.join(REPO, "configs", "trainers", trainer_dir, f"{name}.yaml")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Config {path} not found (chosen in sweeps/plan.py BACKBONES "
                                "or by --config).")
    return path


def max_epoch(config_path, opts):
    """OPTIM.MAX_EPOCH as the run will see it: the config file, then yacs options."""
    value = None
    for key, val in zip(opts[::2], opts[1::2]):
        if key == "OPTIM.MAX_EPOCH":
            value = val
    if value is None:
        with open(config_path) as f:
            value = (yaml.safe_load(f) or {}).get("OPTIM", {}).get("MAX_EPOCH")
    if value is None:
        raise ValueError(f"{config_path} sets no OPTIM.MAX_EPOCH, which the test runs need to "
                         "load the last checkpoint: add it or pass OPTIM.MAX_EPOCH.")
    return int(value)


def expand(sweep):
    """The runs of ``sweep`` in an order where every run comes after the runs it needs."""
    runs = []
    for name in sweep.backbones:
        backbone = BACKBONES[name]
        for seed in sweep.seeds:
            if sweep.protocol == "base2new":
                for dataset in sweep.datasets:
                    runs += _chain(sweep, backbone, seed, dataset, [(dataset, "new")])
            else:
                runs += _chain(sweep, backbone, seed, XD_SOURCE,
                               [(t, "target") for t in sweep.datasets])
    return runs


def _chain(sweep, backbone, seed, train_dataset, tests):
    """Backbone train -> its tests; backbone train -> FVG-PT train -> FVG-PT tests.

    ``tests``: (dataset, split label) of each test run after the training run.
    """
    cfg = backbone.config(sweep.protocol, train_dataset, sweep.config)
    runs = _method_runs(sweep, backbone, seed, cfg, backbone.trainer,
                        backbone.config_dir or backbone.trainer, backbone.trainer, train_dataset,
                        tests, opts=[], test_opts=[], deps=[], trains=not backbone.zero_shot)
    if backbone.fvgpt_trainer:
        # Targets of cross-dataset transfer use z_PC (spec, Inference; paper Sec. 4.2).
        test_opts = ["TRAINER.FVGPT.TEST_BRANCH", "pc"] if sweep.protocol == "xd" else []
        replay = ["TRAINER.FVGPT.REPLAY_CACHE", sweep.replay_cache] if sweep.replay_cache else []
        runs += _method_runs(sweep, backbone, seed, cfg, backbone.fvgpt_trainer,
                             backbone.fvgpt_trainer, f"{backbone.trainer} + FVG-PT", train_dataset,
                             tests, opts=["TRAINER.FVGPT.BACKBONE_DIR", runs[0].out_dir(sweep)],
                             test_opts=test_opts, deps=[runs[0].name], trains=True,
                             train_opts=replay)
    return runs


def _method_runs(sweep, backbone, seed, cfg, trainer, trainer_dir, method, train_dataset, tests,
                 opts, test_opts, deps, trains, train_opts=()):
    """One method's training run (an evaluation for zero-shot methods) and its test runs;
    ``train_opts`` go to the training run only."""
    train_stage, test_stage = STAGES[sweep.protocol]
    train_split, test_split = {"base2new": ("base", "new"), "xd": ("all", "all")}[sweep.protocol]
    config = trainer_config(trainer_dir, cfg)

    def name(stage, dataset):
        return os.path.join(stage, dataset, f"shots_{sweep.shots}", trainer, cfg, f"seed{seed}")

    def run(stage, dataset, label, subsample, flags, run_opts, run_deps):
        out = name(stage, dataset)
        args = ["--root", sweep.root, "--seed", str(seed), "--trainer", trainer,
                "--dataset-config-file", dataset_config(dataset), "--config-file", config,
                "--output-dir", os.path.join(sweep.output, out), *flags, *run_opts,
                "DATASET.NUM_SHOTS", str(sweep.shots), "DATASET.SUBSAMPLE_CLASSES", subsample,
                *sweep.opts]
        return Run(out, args, run_deps, backbone.trainer, method, dataset, seed, label)

    train_label = "base" if sweep.protocol == "base2new" else "source"
    if trains:
        train = run(train_stage, train_dataset, train_label, train_split, [],
                    opts + list(train_opts), deps)
        load = ["--model-dir", train.out_dir(sweep), "--load-epoch", str(max_epoch(config, sweep.opts))]
        test_deps = [train.name]
    else:
        train = run(train_stage, train_dataset, train_label, train_split, ["--eval-only"], opts, deps)
        load, test_deps = [], []
    return [train] + [run(test_stage, dataset, label, test_split, ["--eval-only", *load],
                          opts + test_opts, test_deps) for dataset, label in tests]
