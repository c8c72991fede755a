"""Config keys this project adds to Dassl's defaults (call from ``extend_cfg`` in train.py).

In another CoOp-family repository, ``fvgpt.add_config(cfg)`` in its ``extend_cfg`` adds the
keys it lacks and leaves the ones it has (e.g. its own ``TRAINER.COOP``) untouched.
"""
import copy
import difflib
import re

from yacs.config import CfgNode as CN

from .backbone_settings import remember_defaults
from .backbones.coop import KGCOOP_CTX_WORDS
from .backbones.registry import BACKBONES

BOOL_OR_WORDS_KEYS = ("TRAINER.COOP.CTX_INIT",)


def add_fvgpt_config(cfg):
    """FVG-PT's keys; defaults follow docs/spec.md (the paper and the authors' configs)."""
    c = cfg.TRAINER.FVGPT = CN()
    c.BACKBONE_DIR = ""  # --output-dir of the tuned backbone run (same dataset and seed)
    c.BACKBONE_EPOCH = 0  # checkpoint epoch of the backbone; 0 = model-best if saved, else the last
    c.ALLOW_UNFINISHED_BACKBONE = False  # build on a backbone run without result.json
    c.PREC = "fp16"  # precision of the frozen CLIP / backbone: fp16, fp32 or amp
    c.ADAPTER_DIM = 64  # FDC bottleneck width
    c.ADAPTER_INIT_SCALE = 1e-3  # scale of each adapter's last layer at init (upstream cfg)
    c.GATE_DIM = 32  # hidden width of the FRG and BRG MLPs
    c.TAU = 2.0  # distillation temperature tau_d
    c.FDC_LOGIT_SCALE = 0.0  # s_FDC; 0 = the backbone's own logit scale (spec Sec. 2 choice;
    # 100 for OpenAI CLIP, the upstream cfg's value)
    c.LAMBDA_DIST = 10.0  # lambda_d (5 for MMRL)
    c.LAMBDA_NEW = 1.0  # lambda_new, weight of L_PC (upstream cfg)
    c.DETACH_GATE = True  # (choice) r is detached in L_dist; the FRG learns from L_FRG alone
    c.CLIP_TEMPLATE = ""  # prompt of the zero-shot prior; "" = the dataset's CoOp template
    c.TEST_BRANCH = "auto"  # auto (new classes: pc, else fdc), fdc or pc
    c.MASK_ROOT = ""  # folder mirroring DATASET.ROOT with the masks; "" = DATASET.ROOT/mask
    c.MASK_EXT = ""  # masks' file extension (e.g. ".png" for .jpg images); "" = the image's
    c.MASK_THRESHOLD = 0.5  # mask pixel / 255 above this is foreground (upstream cfg)
    c.MISSING_MASK = "error"  # error, or full: use the whole image and count it
    c.EMPTY_MASK = "error"  # error, or keep: train on it (A(m) = 0)
    c.FG_FILL = "mean"  # (choice) x_fg = normalised x * m (mean colour outside), or black: x * m
    c.REPLAY_CACHE = ""  # folder where training runs record / replay the backbone's outputs
    # exactly (docs/replay.md); "" = off
    c.REPLAY_MAX_BYTES = 20 * 2 ** 30  # no recording that would grow REPLAY_CACHE beyond this
    a = c.ABLATION = CN()  # parts switched off for ablations (paper Tables 3, 6, 12, 13)
    a.LOSSES = ["frg", "fdc_ce", "dist", "pc_ce", "pc_kl"]  # loss terms that are optimised
    a.FIXED_R = -1.0  # in [0, 1]: the FRG's r replaced by this constant; < 0: learned
    a.FIXED_B = -1.0  # in [0, 1]: the BRG's b replaced by this constant; < 0: learned
    a.FRG_INPUTS = [0, 1, 2]  # statistics the FRG sees: entropy gap, cosine, area
    a.BRG_INPUTS = [0, 1, 2]  # statistics the BRG sees: H(p_full), H(p_CLIP), cosine
    a.TEXT_ADAPTER = True  # False: FDC adapts the image features only (Table 13)


def add_project_config(cfg):
    """Everything train.py adds: every backbone's keys (fvgpt.backbones.registry), FVG-PT's,
    base/new subsampling, FG-World's seed, the CLIP cache folder, D_fg on the test split."""
    for backbone in BACKBONES.values():
        backbone.add_config(cfg)
    add_fvgpt_config(cfg)
    cfg.TEST.FOREGROUND_SHIFT_INDEX = False  # also report D_fg on the test split (needs test masks)
    cfg.DATASET.SUBSAMPLE_CLASSES = "all"  # all, base or new (CoOp/CoCoOp convention)
    cfg.DATASET.WORLD_SEED = 0  # FG-World's generator seed (one world per DATASET.ROOT)
    cfg.MODEL.BACKBONE.CLIP_CACHE_DIR = ""  # extra folder searched for named OpenAI weights
    remember_defaults(cfg)  # what "left at its default" means for backbone settings


def add_config(cfg):
    """Add every key of ``add_project_config`` that ``cfg`` lacks; never overwrite a key it has.

    For users' ``extend_cfg``: their own nodes (``TRAINER.COOP`` ...) and values stay theirs.
    """
    ours = CN()
    ours.TRAINER, ours.TEST, ours.DATASET = CN(), CN(), CN()
    ours.MODEL = CN()
    ours.MODEL.BACKBONE = CN()
    add_project_config(ours)
    _add_missing(cfg, ours)
    remember_defaults(cfg)
    return cfg


def _add_missing(cfg, defaults):
    for key, value in defaults.items():
        if key not in cfg:
            setattr(cfg, key, copy.deepcopy(value))
        elif isinstance(value, CN) and isinstance(cfg[key], CN):
            _add_missing(cfg[key], value)


class UnknownConfigKey(ValueError):
    """A config file or the command line names a key the config does not have."""


def merge_checked(cfg, merge, source):
    """Call ``merge()`` (a yacs merge into ``cfg``); an unknown key raises ``UnknownConfigKey``
    naming the key, ``source`` (the file, or the command line) and the closest existing keys."""
    try:
        merge()
    except (KeyError, AssertionError) as err:  # yacs raises either, "Non-existent ... key: K"
        found = re.search(r"Non-existent (?:config )?key: (\S+)", str(err))
        if found is None:
            raise
        key = found[1]
        close = difflib.get_close_matches(key, sorted(_leaf_keys(cfg)), n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(close)}?" if close else "no key of that name is close."
        raise UnknownConfigKey(f"Unknown config key {key} in {source}: {hint} Nothing was run "
                               "or written; correct the key and run again.") from None


def _leaf_keys(node, prefix=""):
    for key, value in node.items():
        if isinstance(value, CN):
            yield from _leaf_keys(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def _lookup(cfg, key):
    node = cfg
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _words_for_bool(value):
    return KGCOOP_CTX_WORDS if value else ""


def merge_config_file(cfg, path):
    """``cfg.merge_from_file(path)``; where ``cfg`` declares a BOOL_OR_WORDS_KEYS key a string
    and the file sets a bool (upstream KgCoOp's ``CTX_INIT: True``), the bool becomes KgCoOp's
    words (True: KGCOOP_CTX_WORDS, False: "")."""
    with open(path) as f:
        loaded = cfg.load_cfg(f)
    for key in BOOL_OR_WORDS_KEYS:
        value, parent = _lookup(loaded, key), _lookup(loaded, key.rsplit(".", 1)[0])
        if isinstance(value, bool) and isinstance(_lookup(cfg, key), str):
            parent[key.rsplit(".", 1)[1]] = _words_for_bool(value)
    cfg.merge_from_other_cfg(loaded)


def config_opts(cfg, opts):
    """Command-line ``KEY VALUE`` pairs with KgCoOp's bool CTX_INIT (``True``/``False``) as
    words where ``cfg`` declares the key a string (see ``merge_config_file``)."""
    opts = list(opts or [])
    for i in range(0, len(opts) - 1, 2):
        if (opts[i] in BOOL_OR_WORDS_KEYS and opts[i + 1] in ("True", "False")
                and isinstance(_lookup(cfg, opts[i]), str)):
            opts[i + 1] = _words_for_bool(opts[i + 1] == "True")
    return opts
