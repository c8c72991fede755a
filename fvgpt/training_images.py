"""Which training images a run used, so that FVG-PT can insist on its backbone's shots.

The paper tunes FVG-PT on exactly the backbone's few-shot training data. A run's record
(``<output dir>/training_images.json``) holds its sorted image list (paths relative to
``DATASET.ROOT``, with labels), the list's SHA-256 and the few-shot cache file the reader
used (``split_fewshot/shot_K-seed_S.pkl`` of CoOp-family readers). ``train.py`` writes it for
every run; an FVG-PT run compares its own list with its backbone run's record.
"""
import collections
import hashlib
import json
import os

RECORD_FILE = "training_images.json"


def fewshot_cache(cfg, dataset):
    """The few-shot cache file a CoOp-family reader used for this run, or None.

    CoOp-family readers keep ``split_fewshot_dir`` and name the cache
    ``shot_{NUM_SHOTS}-seed_{SEED}.pkl`` (KaiyangZhou/CoOp, datasets/oxford_pets.py).
    """
    folder = getattr(dataset, "split_fewshot_dir", None)
    if cfg.DATASET.NUM_SHOTS < 1 or not folder:
        return None
    path = os.path.join(folder, f"shot_{cfg.DATASET.NUM_SHOTS}-seed_{cfg.SEED}.pkl")
    return path if os.path.isfile(path) else None


def training_images(cfg, dataset):
    """The record of ``dataset.train_x``: sorted (relative path, label) pairs and their hash."""
    root = os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT))
    images = sorted([os.path.relpath(os.path.abspath(item.impath), root), int(item.label)]
                    for item in dataset.train_x)
    digest = hashlib.sha256(json.dumps(images).encode()).hexdigest()
    per_class = collections.Counter(label for _, label in images)
    return {"sha256": digest, "n_images": len(images),
            "shots_per_class": {"min": min(per_class.values(), default=0),
                                "max": max(per_class.values(), default=0)}, "fewshot_cache": fewshot_cache(cfg, dataset),
            "dataset": cfg.DATASET.NAME, "num_shots": cfg.DATASET.NUM_SHOTS, "seed": cfg.SEED,
            "subsample_classes": cfg.DATASET.get("SUBSAMPLE_CLASSES", "all"), "root": root,
            "images": images}


def describe_cache(record):
    """One line naming the few-shot cache of a record."""
    if record["fewshot_cache"]:
        return f"few-shot cache {record['fewshot_cache']}"
    if record["num_shots"] < 1:
        return "no few-shot sampling (every training image)"
    return "no few-shot cache file (the reader sampled without caching)"


def record_training_images(cfg, dataset, output_dir):
    """Write the run's record to ``output_dir`` and print which few-shot cache it used."""
    record = training_images(cfg, dataset)
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, RECORD_FILE)
    with open(path + ".tmp", "w") as f:
        json.dump(record, f)
    os.replace(path + ".tmp", path)
    print(f"Training images: {record['n_images']} (sha256 {record['sha256'][:12]}), "
          f"{describe_cache(record)}")
    fewest = record["shots_per_class"]["min"]
    if 0 < cfg.DATASET.NUM_SHOTS and fewest < cfg.DATASET.NUM_SHOTS:
        print(f"Note: DATASET.NUM_SHOTS is {cfg.DATASET.NUM_SHOTS}, but some classes have only "
              f"{fewest} training images: this run trains on {fewest} to "
              f"{record['shots_per_class']['max']} per class (recorded as shots_per_class in "
              f"{RECORD_FILE}, the checkpoints and result.json).")
    return record


def read_record(run_dir):
    """The record written by a run in ``run_dir``, or None when it wrote none."""
    path = os.path.join(run_dir, RECORD_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def check_same_training_images(own, backbone_dir):
    """Raise ValueError when the backbone run in ``backbone_dir`` trained on other images.

    Returns the backbone's record, or None (with a printed warning) when it has none.
    """
    theirs = read_record(backbone_dir)
    if theirs is None:
        print(f"Warning: the backbone run {backbone_dir} has no {RECORD_FILE} (trained "
              "elsewhere?), so its training images cannot be compared with these. Make sure "
              "this run reads the backbone run's few-shot cache (its split_fewshot/ file): "
              f"this run uses {describe_cache(own)}.")
        return None
    if theirs["sha256"] == own["sha256"]:
        print(f"Same training images as the backbone run ({own['n_images']} images, "
              f"{describe_cache(own)}).")
        return theirs
    own_set = {tuple(x) for x in own["images"]}
    their_set = {tuple(x) for x in theirs["images"]}
    only_own = sorted(own_set - their_set)[:3]
    only_theirs = sorted(their_set - own_set)[:3]
    raise ValueError(
        f"FVG-PT must train on its backbone's training images, but the backbone run "
        f"{backbone_dir} used {theirs['n_images']} images ({theirs['dataset']}, "
        f"{theirs['num_shots']} shots, seed {theirs['seed']}, {theirs['subsample_classes']} "
        f"classes, {describe_cache(theirs)}) and this run {own['n_images']} "
        f"({own['dataset']}, {own['num_shots']} shots, seed {own['seed']}, "
        f"{own['subsample_classes']} classes, {describe_cache(own)}). "
        f"Only here: {only_own}; only in the backbone run: {only_theirs}. Use the backbone "
        "run's data set, DATASET.NUM_SHOTS, --seed and DATASET.SUBSAMPLE_CLASSES, and its "
        "few-shot cache file (copy its split_fewshot/ file into this data set folder)."
    )
