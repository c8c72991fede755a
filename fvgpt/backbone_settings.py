"""Settings a backbone run fixes, read from the run itself.

FVG-PT rebuilds the frozen backbone from its own config, so the keys that shape the backbone
(CTX_INIT, N_CTX, prompt depths, REP_DIM, TASK, the CLIP, the image size ...) must be those
of the backbone run. They are read from the run: its recorded config (``run_config.yaml``,
written by this project's ``train.py``; ``config.yaml`` where a repository writes one) and
the shapes of its checkpoint (which upstream runs always have). For each such key:

- the same value here: nothing to do;
- this run left the key at the default its ``extend_cfg`` declared: the backbone's value is
  used, and the log says so;
- this run sets another value (config file or command line): the run stops, naming the key
  and both values.

Keys of the data pipeline (``INPUT.SIZE``) are built before the model, so they are checked
only. Which value counts as "the default" is recorded by ``remember_defaults`` (called by
``fvgpt.add_config`` and ``add_project_config``); without that record every value counts as set.
"""
import os

import yaml

RECORD_FILES = ("run_config.yaml", "config.yaml")
CHECKED_ONLY = ("INPUT.SIZE",)  # the data loaders exist before the model is built
COMMON_KEYS = ("MODEL.BACKBONE.NAME", "INPUT.SIZE")

_DEFAULTS = {}


class BackboneSettingsError(ValueError):
    """This run's config contradicts a setting of its backbone run."""


def flatten(node, prefix=""):
    """``{"A.B": value}`` for every leaf of a (yacs) mapping; tuples as lists."""
    flat = {}
    for key, value in node.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = list(value) if isinstance(value, tuple) else value
    return flat


def remember_defaults(cfg):
    """Record ``cfg``'s values as the declared defaults (call at the end of ``extend_cfg``)."""
    _DEFAULTS.clear()
    _DEFAULTS.update(flatten(cfg))


def recorded_config(run_dir):
    """(flat config, file) the backbone run recorded, or (None, None) when it recorded none."""
    for name in RECORD_FILES:
        path = os.path.join(run_dir, name)
        if os.path.isfile(path):
            with open(path) as f:
                record = yaml.safe_load(f) or {}
            return flatten(record), path  # run_config.yaml is flat already; config.yaml nested
    return None, None


def _get(cfg, key):
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def _set(cfg, key, value):
    *parents, leaf = key.split(".")
    node = cfg
    for part in parents:
        node = node[part]
    old = node[leaf]
    node[leaf] = tuple(value) if isinstance(old, tuple) else value


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def adopt_backbone_settings(cfg, run_dir, keys, from_checkpoint, checkpoint, unverifiable=None):
    """Make ``cfg`` hold the backbone run's values of ``keys`` (see the module docstring).

    ``from_checkpoint``: {key: value} read from the backbone's ``checkpoint`` shapes; it wins
    over the recorded config. ``unverifiable``: {key: why it matters} for keys the checkpoint
    cannot confirm; a loud warning names each one the run did not record. Returns the {key: value} adopted (``cfg`` is changed in place,
    frozen again if it was frozen); raises ``BackboneSettingsError`` on a contradiction.
    """
    record, record_path = recorded_config(run_dir)
    found = {}
    if record is not None:
        found.update({k: (record[k], record_path) for k in (*keys, *COMMON_KEYS) if k in record})
    found.update({k: (v, f"the shapes of {checkpoint}") for k, v in from_checkpoint.items()})
    adopted, contradictions = {}, []
    for key, (theirs, source) in found.items():
        try:
            mine = _plain(_get(cfg, key))
        except KeyError:
            continue
        theirs = _plain(theirs)
        if mine == theirs:
            continue
        defaulted = key in _DEFAULTS and _DEFAULTS[key] == mine
        if defaulted and key not in CHECKED_ONLY:
            adopted[key] = theirs
        else:
            contradictions.append(
                f"  {key}: {mine!r} in this run, {theirs!r} in the backbone run ({source})")
    if contradictions:
        raise BackboneSettingsError(
            f"This run contradicts settings of its backbone run {run_dir}:\n"
            + "\n".join(contradictions) + "\nSet each key to the backbone run's value (or leave "
            "it out, except INPUT.SIZE, and it is read from the backbone run), or point "
            "TRAINER.FVGPT.BACKBONE_DIR to the backbone you mean.")
    if adopted:
        frozen = cfg.is_frozen()
        cfg.defrost()
        for key, value in adopted.items():
            _set(cfg, key, value)
            print(f"{key} = {value!r}, read from the backbone run {run_dir}")
        if frozen:
            cfg.freeze()
    for key, why in (unverifiable or {}).items():
        if key not in found:
            print(f"WARNING: {key} = {_plain(_get(cfg, key))!r} cannot be checked: the backbone run "
                  f"{run_dir} does not record it and its checkpoint does not fix it ({why}). Make "
                  "sure it is the backbone run's value.")
    if record is None:
        print(f"Note: {run_dir} records no config ({' / '.join(RECORD_FILES)}); only what its "
              f"checkpoint's shapes fix ({', '.join(from_checkpoint) or 'nothing'}) was checked.")
    return adopted
