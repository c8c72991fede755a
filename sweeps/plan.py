"""The one planner: every protocol's runs, their train.py arguments, folders and dependencies.

Per backbone and seed, each protocol chains
    backbone train -> backbone tests;  backbone train -> FVG-PT train -> FVG-PT tests
(zero-shot CLIP, a baseline, is evaluated only). Protocols and their run folders:

- ``base2new`` (paper Table 1), per data set: train on the base classes, test on the new ones,
  ``<output>/{train_base,test_new}/<dataset>/shots_<K>/<trainer>/<cfg>/seed<S>``;
- ``xd`` (paper Table 2): train on ImageNet (all classes), test on each target,
  ``<output>/{train,test}/<dataset>/shots_<K>/<trainer>/<cfg>/seed<S>``;
- ``world`` (the FG-World main job, one world per sweep): base-to-new on ``fg_world``,
  ``<output>/<trainer>/{base,new}/seed<S>``; ``backbone_output`` puts the backbone runs in
  another folder and ``fvgpt_opts`` changes the FVG-PT runs only (the ablations on FG-World).

Backbones and their config per protocol and data set come from
``fvgpt.backbones.registry.BACKBONES``; ``--config`` replaces them. ``python -m sweeps.run``
runs a sweep; the per-trainer scripts ``scripts/<trainer>/{base2new,xd}_{train,test}.sh`` make
the same runs one at a time (``tests/test_sweeps.py`` checks their train.py arguments against
``expand`` for every backbone). A run is done when its ``result.json`` reads.
"""
import glob
import json
import os
import shlex
import sys
from dataclasses import asdict, dataclass, field, fields

import yaml

from fvgpt.backbones.registry import BACKBONES
from fvgpt.checkpoints import atomic_write_text
from fvgpt.results import RESULT_FILE, RunNotFinished, read_run

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Zero-shot CLIP: evaluated only, with CoOp's configs (image size, batch, CLIP weights).
ZERO_SHOT = "ZeroshotCLIP"
ZERO_SHOT_CONFIG_DIR = "CoOp"
ZERO_SHOT_CONFIGS = {"base2new": "vit_b16_ep10", "xd": "vit_b16_ep10", "world": "world"}

# configs/datasets/ names of the paper's 11 data sets, in Table 1's order, and Table 2's targets.
PAPER_DATASETS = ["imagenet", "caltech101", "food101", "stanford_cars", "oxford_pets",
                  "oxford_flowers", "dtd", "eurosat", "fgvc_aircraft", "sun397", "ucf101"]
XD_SOURCE = "imagenet"
XD_TARGETS = ["caltech101", "oxford_pets", "stanford_cars", "oxford_flowers", "food101",
              "fgvc_aircraft", "sun397", "dtd", "eurosat", "ucf101"]
WORLD_DATASET = "fg_world"


@dataclass(frozen=True)
class Protocol:
    """How a protocol names its runs and which classes its training and test runs see."""

    train_stage: str
    test_stage: str
    train_classes: str  # DATASET.SUBSAMPLE_CLASSES of the training run
    test_classes: str
    train_split: str  # Run.split labels, as sweeps.tables reads them
    test_split: str
    layout: str = "{stage}/{dataset}/shots_{shots}/{trainer}/{cfg}/seed{seed}"  # a run's folder

    def run_name(self, **fields):
        return os.path.join(*self.layout.format(**fields).split("/"))


PROTOCOLS = {
    "base2new": Protocol("train_base", "test_new", "base", "new", "base", "new"),
    "xd": Protocol("train", "test", "all", "all", "source", "target"),
    # the main job's folders (scripts/world_benchmark.py), under <output>/world<K>
    "world": Protocol("base", "new", "base", "new", "base", "new", "{trainer}/{stage}/seed{seed}"),
}
DESCRIPTION_FILE = "sweep.json"
D_FG_OPTS = ["TEST.FOREGROUND_SHIFT_INDEX", "True"]  # D_fg (paper Supp. 0.A) of a base-class run


def known_backbones():
    """What ``Sweep.backbones`` may name: the registry's backbones and the zero-shot baseline."""
    return [ZERO_SHOT] + list(BACKBONES)


def config_name(backbone, protocol, dataset, fvgpt=False):
    """The config name of ``backbone`` (``fvgpt``: of FVG-PT on it) for ``protocol`` on the
    data set its training run reads."""
    if backbone == ZERO_SHOT:
        return ZERO_SHOT_CONFIGS[protocol]
    return BACKBONES[backbone].config_name(protocol, dataset, fvgpt)


def config_file(backbone, trainer, cfg):
    """Path of config ``cfg`` of ``trainer`` (a backbone's or FVG-PT's on it)."""
    if backbone == ZERO_SHOT:
        path = os.path.join(REPO, "configs", "trainers", ZERO_SHOT_CONFIG_DIR, f"{cfg}.yaml")
    else:
        path = BACKBONES[backbone].config_file(REPO, cfg, fvgpt=trainer != backbone)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Config {path} not found (chosen in the backbone's record, "
                                "fvgpt/backbones/registry.py, or by --config).")
    return path


def dataset_config(dataset):
    return os.path.join(REPO, "configs", "datasets", f"{dataset}.yaml")


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


@dataclass
class Sweep:
    """What to run: protocol, backbones, data sets (xd: targets), seeds, configs, options."""

    protocol: str
    backbones: list
    datasets: list
    seeds: list
    root: str
    output: str
    shots: int = 16
    config: str = None  # one config name for every trainer instead of the registry's choice
    opts: list = field(default_factory=list)  # yacs options added to every run, last
    # TRAINER.FVGPT.REPLAY_CACHE of the FVG-PT runs (docs/replay.md); "" = off, None =
    # <folder above output>/replay_cache, shared by the sweeps of one output folder (variants)
    replay_cache: str = None
    d_fg: bool = True  # D_fg on the base test set in the base-class runs (base2new, world)
    fg_fill: str = None  # TRAINER.FVGPT.FG_FILL of every run (world), None = the configs'
    fvgpt_opts: list = field(default_factory=list)  # options of the FVG-PT runs only (a variant)
    backbone_output: str = None  # where the backbone runs are (world), None = output

    def __post_init__(self):
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {sorted(PROTOCOLS)}, got {self.protocol!r}")
        unknown = [b for b in self.backbones if b not in known_backbones()]
        if unknown:
            raise ValueError(f"Unknown backbone(s) {unknown}: known are {known_backbones()} "
                             "(fvgpt/backbones/registry.py BACKBONES and the zero-shot baseline)")
        owned = [k for k in self.opts[::2] if k in ("DATASET.NUM_SHOTS", "DATASET.SUBSAMPLE_CLASSES")]
        if owned and "{shots}" in PROTOCOLS[self.protocol].layout:
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

        A sweep must share protocol, shots, config, options and D_fg with those already
        recorded (they fix the runs' folders and settings); else ``ValueError`` and nothing is
        written.
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


# What every sweep recorded in one folder shares: they fix the runs' folders and settings.
SHARED_KEYS = ("protocol", "shots", "config", "opts", "d_fg")
# A request recorded before a key existed: the value its runs were made with.
RECORDED_BEFORE = {"d_fg": False}  # sweeps.run measured no D_fg before


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
    known = {f.name for f in fields(Sweep)}
    return [{**RECORDED_BEFORE, **{k: v for k, v in r.items() if k in known}}
            for r in recorded["requests"]]


def infer(output):
    """The sweep behind runs made without ``sweeps.run`` (e.g. by scripts/<trainer>/*.sh).

    Backbones, data sets, shots and seeds are those found in the folder layout; a config
    other than the registry's choice is taken when all runs share it.
    """
    for protocol in ("base2new", "xd"):
        stages = (PROTOCOLS[protocol].train_stage, PROTOCOLS[protocol].test_stage)
        found = [os.path.relpath(p, output).split(os.sep) for stage in stages
                 for p in glob.glob(os.path.join(output, stage, "*", "shots_*", "*", "*", "seed*"))]
        if found:
            break
    else:
        raise FileNotFoundError(f"No sweep in {output}: neither {DESCRIPTION_FILE} (written by "
                                "python -m sweeps.run) nor run folders <stage>/<dataset>/shots_<K>/"
                                "<trainer>/<cfg>/seed<S>.")
    trainers = {f[3] for f in found}
    backbones = [b for b in known_backbones() if b in trainers]
    configs = {f[4] for f in found}
    datasets = sorted({f[1] for f in found if protocol == "base2new" or f[0] == stages[1]})
    sweep = Sweep(protocol, backbones, datasets, sorted({int(f[5][4:]) for f in found}),
                  root="", output=os.path.abspath(output), shots=int(found[0][2][6:]))
    chosen = {os.path.normpath(r.name).split(os.sep)[4] for r in expand(sweep)}
    if configs != chosen and len(configs) == 1:
        sweep.config = configs.pop()
    return sweep


@dataclass
class Run:
    """One train.py call: what it is, where it writes, which runs must finish first."""

    name: str  # the output folder relative to ``folder`` (default: the sweep's output)
    args: list  # train.py arguments
    deps: list  # names of the runs it needs
    backbone: str
    trainer: str
    method: str  # the backbone's name, or "<backbone> + FVG-PT"
    dataset: str
    seed: int
    split: str  # base | new (base2new, world); source | target (xd)
    folder: str = None  # the folder ``name`` is in when not the sweep's output (backbone_output)

    def out_dir(self, sweep):
        return os.path.join(self.folder or sweep.output, self.name)

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


def expand(sweep):
    """The runs of ``sweep`` in an order where every run comes after the runs it needs."""
    runs = []
    for backbone in sweep.backbones:
        for seed in sweep.seeds:
            if sweep.protocol == "xd":
                runs += _chain(sweep, backbone, seed, XD_SOURCE, sweep.datasets)
            else:
                for dataset in sweep.datasets:
                    runs += _chain(sweep, backbone, seed, dataset, [dataset])
    return runs


def _chain(sweep, backbone, seed, train_dataset, test_datasets):
    """Backbone train -> its tests; backbone train -> FVG-PT train -> FVG-PT tests."""
    record = BACKBONES.get(backbone)  # None for zero-shot CLIP
    protocol_opts = record.protocol_opts.get(sweep.protocol, []) if record else []
    runs = _method_runs(sweep, backbone, seed, train_dataset, test_datasets, fvgpt=False,
                        opts=protocol_opts, folder=sweep.backbone_output)
    if backbone != ZERO_SHOT:
        backbone_dir = ["TRAINER.FVGPT.BACKBONE_DIR", runs[0].out_dir(sweep)]
        runs += _method_runs(sweep, backbone, seed, train_dataset, test_datasets, fvgpt=True,
                             opts=backbone_dir + protocol_opts + sweep.fvgpt_opts,
                             deps=[runs[0].name])
    return runs


def _method_runs(sweep, backbone, seed, train_dataset, test_datasets, fvgpt, opts, deps=(),
                 folder=None):
    """One method's training run (an evaluation for zero-shot CLIP) and its test runs."""
    protocol = PROTOCOLS[sweep.protocol]
    trainer = f"FVGPT_{backbone}" if fvgpt else backbone
    cfg = sweep.config or config_name(backbone, sweep.protocol, train_dataset, fvgpt)
    config = config_file(backbone, trainer, cfg)
    method = f"{backbone} + FVG-PT" if fvgpt else backbone
    world = sweep.protocol == "world"

    def run(stage, dataset, split, classes, flags, run_opts, run_deps):
        name = protocol.run_name(stage=stage, dataset=dataset, shots=sweep.shots, trainer=trainer,
                                 cfg=cfg, seed=seed)
        out = os.path.join(folder or sweep.output, name)
        fill = ["TRAINER.FVGPT.FG_FILL", sweep.fg_fill] if sweep.fg_fill else []
        args = ["--root", sweep.root, "--seed", str(seed), "--trainer", trainer,
                "--dataset-config-file", dataset_config(dataset), "--config-file", config,
                "--output-dir", out, *flags, "DATASET.NUM_SHOTS", str(sweep.shots),
                "DATASET.SUBSAMPLE_CLASSES", classes, *fill, *run_opts, *sweep.opts]
        return Run(name, args, list(run_deps), backbone, trainer, method, dataset, seed, split,
                   folder)

    cache = ["TRAINER.FVGPT.REPLAY_CACHE", sweep.replay_cache] if fvgpt and sweep.replay_cache else []
    train_opts = list(opts)
    if sweep.d_fg and protocol.train_classes == "base":
        train_opts += D_FG_OPTS
    train_opts += cache
    if backbone == ZERO_SHOT:
        train = run(protocol.train_stage, train_dataset, protocol.train_split,
                    protocol.train_classes, ["--eval-only"], train_opts, deps)
        load, test_deps = [], []
    else:
        train = run(protocol.train_stage, train_dataset, protocol.train_split,
                    protocol.train_classes, [], train_opts, deps)
        # base2new and xd load the run's last checkpoint as train.py does without --load-epoch
        # (no config saves a best-validation one); the world job names the epoch.
        epoch = ["--load-epoch", str(max_epoch(config, sweep.opts))] if world else []
        load, test_deps = ["--model-dir", train.out_dir(sweep), *epoch], [train.name]
    tests = []
    for dataset in test_datasets:
        # Cross-dataset targets use z_PC (spec, Inference; paper Sec. 4.2); on the source
        # itself TEST_BRANCH auto picks z_FDC.
        branch = (["TRAINER.FVGPT.TEST_BRANCH", "pc"]
                  if fvgpt and sweep.protocol == "xd" and dataset != XD_SOURCE else [])
        tests.append(run(protocol.test_stage, dataset, protocol.test_split, protocol.test_classes,
                         ["--eval-only", *load], list(opts) + branch + cache, test_deps))
    return [train] + tests


def world_sweep(root, output, world_seed, backbones, seeds, fg_fill="black", opts=(), **options):
    """One world of the FG-World job (scripts/world_benchmark.py): ``backbones`` (with
    ``ZeroshotCLIP`` if asked) on FG-World generated with ``world_seed`` in ``root``, 16 shots,
    runs in ``output``, no replay cache; ``options``: further ``Sweep`` fields (an ablation's)."""
    return Sweep("world", list(backbones), [WORLD_DATASET], list(seeds), root, output,
                 opts=["DATASET.WORLD_SEED", str(world_seed), *opts], fg_fill=fg_fill,
                 **{"replay_cache": "", **options})


def run_of(sweep, trainer, split, seed):
    """The run of ``sweep`` with that trainer, split label and seed."""
    return next(r for r in expand(sweep) if (r.trainer, r.split, r.seed) == (trainer, split, seed))
