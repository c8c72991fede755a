"""Config keys this project adds to Dassl's defaults (call from ``extend_cfg`` in train.py).

In another CoOp-family repository, ``fvgpt.add_config(cfg)`` in its ``extend_cfg`` adds the
keys it lacks and leaves the ones it has (e.g. its own ``TRAINER.COOP``) untouched.
"""
import copy

from yacs.config import CfgNode as CN


def add_coop_config(cfg):
    """CoOp's keys, with CoOp's defaults (KaiyangZhou/CoOp, train.py extend_cfg)."""
    cfg.TRAINER.COOP = CN()
    cfg.TRAINER.COOP.N_CTX = 16  # number of context vectors
    cfg.TRAINER.COOP.CSC = False  # class-specific context
    cfg.TRAINER.COOP.CTX_INIT = ""  # initialisation words, e.g. "a photo of a"
    cfg.TRAINER.COOP.PREC = "fp16"  # fp16, fp32 or amp
    cfg.TRAINER.COOP.CLASS_TOKEN_POSITION = "end"  # end, middle or front


def add_kgcoop_config(cfg):
    """KgCoOp's keys: CoOp's node plus the weight W of its knowledge-guided loss
    (htyao89/KgCoOp, KgCoOp/train.py: W = 1.0; its scripts pass 8.0). Needs ``add_coop_config``."""
    cfg.TRAINER.COOP.W = 1.0


def add_promptsrc_config(cfg):
    """PromptSRC's keys, defaults and types as upstream (muzairkhattak/PromptSRC, train.py
    extend_cfg; ints stay ints so that upstream config files merge)."""
    c = cfg.TRAINER.PROMPTSRC = CN()
    c.N_CTX_VISION = 4  # visual prompt tokens per layer
    c.N_CTX_TEXT = 4  # text prompt tokens per layer
    c.CTX_INIT = "a photo of a"  # initialises the first-layer text context
    c.PREC = "fp16"  # fp16, fp32 or amp
    c.PROMPT_DEPTH_VISION = 9  # layers 0..depth-1 carry visual prompts
    c.PROMPT_DEPTH_TEXT = 9  # layers 0..depth-1 carry text prompts
    c.TEXT_LOSS_WEIGHT = 25  # L_SCL_text
    c.IMAGE_LOSS_WEIGHT = 10  # L_SCL_image
    c.GPA_MEAN = 15  # Gaussian prompt aggregation over epochs: mean
    c.GPA_STD = 1  # and standard deviation


def add_fvgpt_config(cfg):
    """FVG-PT's keys; defaults follow ../shared/FVGPT_SPEC.md (paper + upstream configs)."""
    c = cfg.TRAINER.FVGPT = CN()
    c.BACKBONE_DIR = ""  # --output-dir of the tuned backbone run (same dataset and seed)
    c.BACKBONE_EPOCH = 0  # checkpoint epoch of the backbone; 0 = the latest saved
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


# Upstream MMRL's per-data-set overrides (yunncheng/MMRL, trainers/config.py), applied by
# upstream's train.py to every run; the FVG-PT authors ran MMRL without them.
MMRL_DATASET_OVERRIDES = {
    "StanfordCars": {"REG_WEIGHT": 7.0}, "FGVCAircraft": {"REG_WEIGHT": 6.0},
    "SUN397": {"REG_WEIGHT": 6.0}, "DescribableTextures": {"REG_WEIGHT": 6.0},
    "Food101": {"REG_WEIGHT": 5.0}, "OxfordFlowers": {"REG_WEIGHT": 4.0},
    "UCF101": {"REG_WEIGHT": 3.0}, "ImageNet": {"REG_WEIGHT": 0.5},
    "Caltech101": {"REG_WEIGHT": 0.5}, "OxfordPets": {"REG_WEIGHT": 0.2},
    "EuroSAT": {"REP_DIM": 2048, "REG_WEIGHT": 0.01},
}


def add_mmrl_config(cfg):
    """MMRL's keys with upstream's defaults (yunncheng/MMRL, train.py extend_cfg), plus TASK."""
    c = cfg.TRAINER.MMRL = CN()
    c.ALPHA = 0.7  # weight of the CLS logits in the fused logits and in the loss
    c.REG_WEIGHT = 1.0  # weight of each cosine regulariser towards plain CLIP
    c.REP_LAYERS = []  # 1-based blocks that receive representation tokens, e.g. [6, ..., 12]
    c.REP_DIM = 512  # width of the shared representation tokens R
    c.N_REP_TOKENS = 5
    c.PREC = "fp16"  # fp16, fp32 or amp
    c.DATASET_OVERRIDES = False  # (project) apply upstream's per-data-set table above
    c.FDC_FEATURE = "fusion"  # (project, FVGPT_MMRL) FDC adapter input: cls, rep or fusion (README)
    cfg.TASK = "B2N"  # B2N, CD or FS: selects MMRL's test-time branch (as upstream)


def apply_mmrl_dataset_overrides(cfg, opts):
    """Upstream's per-data-set MMRL values when TRAINER.MMRL.DATASET_OVERRIDES, then ``opts``
    again so that the command line still wins (upstream's order). ``cfg`` must not be frozen."""
    if cfg.TRAINER.MMRL.DATASET_OVERRIDES:
        for key, value in MMRL_DATASET_OVERRIDES.get(cfg.DATASET.NAME, {}).items():
            cfg.TRAINER.MMRL[key] = value
        cfg.merge_from_list(opts)


def add_project_config(cfg):
    """Everything train.py adds: CoOp, KgCoOp, PromptSRC, FVG-PT, base/new subsampling, CLIP cache folder, D_fg."""
    add_coop_config(cfg)
    add_kgcoop_config(cfg)
    add_promptsrc_config(cfg)
    add_fvgpt_config(cfg)
    add_mmrl_config(cfg)
    cfg.TEST.FOREGROUND_SHIFT_INDEX = False  # also report D_fg on the test split (needs test masks)
    cfg.DATASET.SUBSAMPLE_CLASSES = "all"  # all, base or new (CoOp/CoCoOp convention)
    cfg.MODEL.BACKBONE.CLIP_CACHE_DIR = ""  # extra folder searched for named OpenAI weights


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
    return cfg


def _add_missing(cfg, defaults):
    for key, value in defaults.items():
        if key not in cfg:
            setattr(cfg, key, copy.deepcopy(value))
        elif isinstance(value, CN) and isinstance(cfg[key], CN):
            _add_missing(cfg[key], value)
