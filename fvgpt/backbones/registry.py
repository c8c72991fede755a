"""Every backbone FVG-PT builds on, in one place.

A ``BackboneRecord`` names what the rest of the project needs to know of a backbone: its
adapter (``fvgpt.backbones.base.FrozenBackbone``), its config keys, the repository module
that registers its own Dassl trainer, and its config file per protocol. The FVG-PT trainer
``FVGPT_<name>`` (``fvgpt.trainers``), ``train.py``, the config, the sweeps, the tables, the
FG-World job and the efficiency benchmark all read ``BACKBONES``. docs/adding_a_backbone.md
shows how a new backbone joins.
"""
import os
from dataclasses import dataclass, field
from typing import Callable

from . import coop, kgcoop, mmrl, promptsrc

REPOSITORY_CONFIGS = "configs/trainers"  # relative to the repository root


@dataclass(frozen=True)
class BackboneRecord:
    """One backbone.

    ``name``: its Dassl trainer (``--trainer``); FVG-PT on it is ``FVGPT_<name>``.
    ``adapter``: its ``FrozenBackbone`` subclass. ``add_config``: adds its config keys.
    ``trainer_module``: the repository module whose import registers its trainer.
    ``configs``: its config name (file ``<config_dir>/<name>/<config>.yaml``) per protocol
    (``base2new``, ``xd``, ``world``), or per ``<protocol>/<dataset>`` where a data set differs;
    ``fvgpt_configs``: the same for ``FVGPT_<name>`` (under ``<config_dir>/FVGPT_<name>/``;
    default: the same names).
    ``protocol_opts``: options its runs need in a protocol beyond its config (MMRL's
    ``TASK CD`` for cross-data-set transfer).
    ``adjust_config(cfg, opts)``: optional, applied after the command line (MMRL's
    per-data-set values). ``config_dir``: where its configs are (default: the repository's).
    """

    name: str
    adapter: type
    add_config: Callable
    trainer_module: str
    configs: dict = field(default_factory=dict)
    fvgpt_configs: dict = None
    protocol_opts: dict = field(default_factory=dict)
    adjust_config: Callable = None
    config_dir: str = REPOSITORY_CONFIGS

    @property
    def fvgpt_trainer(self):
        return f"FVGPT_{self.name}"

    def config_name(self, protocol, dataset=None, fvgpt=False):
        """The config of the backbone trainer (``fvgpt``: of FVGPT_<name>) for ``protocol`` on
        ``dataset``: the data set's own entry, else the protocol's."""
        configs = (self.fvgpt_configs or self.configs) if fvgpt else self.configs
        name = configs.get(f"{protocol}/{dataset}") or configs.get(protocol)
        if name is None:
            raise ValueError(f"Backbone {self.name} has no {'FVG-PT ' if fvgpt else ''}config for "
                             f"protocol {protocol!r}: add one to its record "
                             "(fvgpt/backbones/registry.py), or pass one.")
        return name

    def config_file(self, repo, name, fvgpt=False):
        """Path of config ``name`` of the backbone trainer (``fvgpt``: of FVGPT_<name>) under
        ``repo`` (the root of a relative ``config_dir``)."""
        trainer = self.fvgpt_trainer if fvgpt else self.name
        return os.path.join(repo, self.config_dir, trainer, name + ".yaml")


BACKBONES = {}


def register_backbone(record):
    """Add ``record`` to ``BACKBONES`` (a name is registered once)."""
    if record.name in BACKBONES:
        raise ValueError(f"Backbone {record.name} is already registered.")
    BACKBONES[record.name] = record
    return record


# Config names per protocol: the paper's schedules (Supp. 0.C, Table 15: EuroSAT 20 epochs);
# MMRL itself is trained with the FVG-PT authors' MMRL configs (scripts/mmrl/).
for _record in (
    BackboneRecord("CoOp", coop.CoOpBackbone, coop.add_config, "trainers.coop",
                   {"base2new": "vit_b16_ep10", "base2new/eurosat": "vit_b16_ep20",
                    "xd": "vit_b16_xd", "world": "world"}),
    BackboneRecord("KgCoOp", kgcoop.KgCoOpBackbone, kgcoop.add_config, "trainers.kgcoop",
                   {"base2new": "vit_b16_ep10", "base2new/eurosat": "vit_b16_ep20",
                    "xd": "vit_b16_xd", "world": "world"}),
    BackboneRecord("PromptSRC", promptsrc.PromptSRCBackbone, promptsrc.add_config,
                   "trainers.promptsrc",
                   {"base2new": "vit_b16_ep10", "base2new/eurosat": "vit_b16_ep20",
                    "xd": "vit_b16_xd", "world": "world"}),
    BackboneRecord("MMRL", mmrl.MMRLBackbone, mmrl.add_config, "trainers.mmrl",
                   {"base2new": "vit_b16", "xd": "vit_b16_cross_datasets", "world": "world"},
                   fvgpt_configs={"base2new": "vit_b16_ep10", "base2new/eurosat": "vit_b16_ep20",
                                  "xd": "vit_b16_cross_datasets", "world": "world"},
                   protocol_opts={"xd": ["TASK", "CD"]},  # MMRL's CLS head (mmrl_branch)
                   adjust_config=mmrl.apply_dataset_overrides),
):
    register_backbone(_record)
