"""Config keys this project adds to Dassl's defaults (call from ``extend_cfg`` in train.py)."""
from yacs.config import CfgNode as CN


def add_coop_config(cfg):
    """CoOp's keys, with CoOp's defaults (KaiyangZhou/CoOp, train.py extend_cfg)."""
    cfg.TRAINER.COOP = CN()
    cfg.TRAINER.COOP.N_CTX = 16  # number of context vectors
    cfg.TRAINER.COOP.CSC = False  # class-specific context
    cfg.TRAINER.COOP.CTX_INIT = ""  # initialisation words, e.g. "a photo of a"
    cfg.TRAINER.COOP.PREC = "fp16"  # fp16, fp32 or amp
    cfg.TRAINER.COOP.CLASS_TOKEN_POSITION = "end"  # end, middle or front


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
    c.FDC_LOGIT_SCALE = 100.0  # s_FDC (upstream cfg)
    c.LAMBDA_DIST = 10.0  # lambda_d (5 for MMRL)
    c.LAMBDA_NEW = 1.0  # lambda_new, weight of L_PC (upstream cfg)
    c.DETACH_GATE = True  # (choice) r is detached in L_dist; the FRG learns from L_FRG alone
    c.CLIP_TEMPLATE = ""  # prompt of the zero-shot prior; "" = the dataset's CoOp template
    c.TEST_BRANCH = "auto"  # auto (new classes: pc, else fdc), fdc or pc
    c.MASK_ROOT = ""  # folder mirroring DATASET.ROOT with the masks; "" = DATASET.ROOT/mask
    c.MASK_THRESHOLD = 0.5  # mask pixel / 255 above this is foreground (upstream cfg)
    c.MISSING_MASK = "error"  # error, or full: use the whole image and count it
    c.EMPTY_MASK = "error"  # error, or keep: train on it (A(m) = 0)


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
    """Everything train.py adds: CoOp, FVG-PT, base/new subsampling, CLIP cache folder, D_fg."""
    add_coop_config(cfg)
    add_fvgpt_config(cfg)
    add_mmrl_config(cfg)
    cfg.TEST.FOREGROUND_SHIFT_INDEX = False  # also report D_fg on the test split (needs test masks)
    cfg.DATASET.SUBSAMPLE_CLASSES = "all"  # all, base or new (CoOp/CoCoOp convention)
    cfg.MODEL.BACKBONE.CLIP_CACHE_DIR = ""  # extra folder searched for named OpenAI weights
