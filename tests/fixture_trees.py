"""Tiny data trees in the exact on-disk layout of each data set, with foreground masks.

Each builder writes, under a DATASET.ROOT, the folders, split files and
annotation files a real download has (CoOp DATASETS.md; file formats of the
official archives), with 3 classes of 8 images of 10x8 pixels, and a mask for
every image at ``ROOT/mask/<path relative to ROOT>`` (the authors' layout,
JREion/FVG-PT docs/DATASETS.md). ``build_tree`` returns what a reader must find.
"""
import json
import os
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from dassl.config import get_cfg_default
from dassl.data.datasets import DATASET_REGISTRY
from dassl.utils import set_random_seed

import datasets.all  # noqa: F401  (registers the readers)
from fvgpt.masks import mask_path_for

IMAGE_SIZE = (10, 8)  # PIL (W, H): not square, so a swapped size is caught
TRAINABLE = ["OxfordPets", "Caltech101", "StanfordCars", "OxfordFlowers", "Food101",
             "FGVCAircraft", "SUN397", "DescribableTextures", "EuroSAT", "UCF101", "ImageNet"]
TEST_ONLY = ["ImageNetV2", "ImageNetSketch", "ImageNetA", "ImageNetR"]
ALL_DATASETS = TRAINABLE + TEST_ONLY
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_CONFIGS = os.path.join(REPO_ROOT, "configs", "datasets")
CONFIG_FILES = {
    "OxfordPets": "oxford_pets.yaml", "Caltech101": "caltech101.yaml",
    "StanfordCars": "stanford_cars.yaml", "OxfordFlowers": "oxford_flowers.yaml",
    "Food101": "food101.yaml", "FGVCAircraft": "fgvc_aircraft.yaml", "SUN397": "sun397.yaml",
    "DescribableTextures": "dtd.yaml", "EuroSAT": "eurosat.yaml", "UCF101": "ucf101.yaml",
    "ImageNet": "imagenet.yaml", "ImageNetV2": "imagenetv2.yaml",
    "ImageNetSketch": "imagenet_sketch.yaml", "ImageNetA": "imagenet_a.yaml",
    "ImageNetR": "imagenet_r.yaml",
}


@dataclass
class FixtureTree:
    """A built tree and what its reader must report."""

    name: str                 # DATASET.NAME
    root: str                 # DATASET.ROOT
    classnames: list          # class names in label order, after clean-up
    per_class: tuple          # images per class in (train, val, test)
    split_file: str = None    # the split file, for data sets that have one
    annotation_file: str = None  # a file needed to build the split without a split file
    class_folder: str = None  # a folder whose absence must stop the reader
    images: list = field(default_factory=list)  # every image written

    def size(self, part):
        """Expected number of items in ``part`` ('train', 'val' or 'test') of the full data."""
        return self.per_class[("train", "val", "test").index(part)] * len(self.classnames)


def reader_cfg(root, name, seed=1, num_shots=-1, subsample="all"):
    """Dassl's default config plus CoOp's ``DATASET.SUBSAMPLE_CLASSES`` (added by train.py there)."""
    cfg = get_cfg_default()
    cfg.DATASET.SUBSAMPLE_CLASSES = subsample
    cfg.DATASET.ROOT = root
    cfg.DATASET.NAME = name
    cfg.DATASET.NUM_SHOTS = num_shots
    cfg.SEED = seed
    return cfg


def build_reader(cfg):
    """The reader a run builds: seeded first, as train.py does."""
    set_random_seed(cfg.SEED)
    return DATASET_REGISTRY.get(cfg.DATASET.NAME)(cfg)


def write_image(path, index=0):
    """A small solid-colour image; the format follows the extension (JPEG, PNG)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    colour = (40 * index % 256, 90, 200 - 7 * index % 200)
    Image.new("RGB", IMAGE_SIZE, colour).save(path)


def write_mask(path, index=0, size=IMAGE_SIZE, empty=False, short_side=None):
    """A white-on-black mask whose foreground box grows with ``index`` (1 to 4 rows).

    ``short_side``: scaled up with NEAREST so that its shorter side has this many pixels,
    as the authors' released masks (512).
    """
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pixels = np.zeros((size[1], size[0]), dtype=np.uint8)
    if not empty:
        pixels[:1 + index % 4, :] = 255
    mask = Image.fromarray(pixels, mode="L")
    if short_side:
        scale = short_side / min(size)
        mask = mask.resize((round(size[0] * scale), round(size[1] * scale)), Image.NEAREST)
    mask.save(path)


def write_text(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("".join(line + "\n" for line in lines))


def write_split(path, image_dir, train, val, test):
    """A CoOp split file: ``{"train"|"val"|"test": [[path relative to image_dir, label, name]]}``."""
    def rel(items):
        return [[os.path.relpath(p, image_dir), label, name] for p, label, name in items]

    with open(path, "w") as f:
        json.dump({"train": rel(train), "val": rel(val), "test": rel(test)}, f)


def split_items(items_by_class, per_class):
    """Cut each class's ``(path, label, name)`` list into train/val/test by ``per_class``."""
    n_train, n_val, _ = per_class
    parts = ([], [], [])
    for items in items_by_class:
        parts[0].extend(items[:n_train])
        parts[1].extend(items[n_train:n_train + n_val])
        parts[2].extend(items[n_train + n_val:])
    return parts


def build_tree(name, root, masks=True):
    """Write the fixture tree of data set ``name`` under ``root``; masks for all images."""
    tree = BUILDERS[name](root)
    for i, image in enumerate(tree.images):
        write_image(image, i)
        if masks:
            write_mask(mask_path_for(image, root), i)
    return tree


# The authors' download (HF JREion/Prompt_Tuning_Datasets_with_Foreground): one parent folder
# per data set, used as --root, with mask/ beside the data set's own folder (JREion/FVG-PT
# run_tuning.py and docs/DATASETS.md; UPSTREAM_NOTES 2.4-2.5). Same map as the scripts'
# DATA_LAYOUT=fvgpt (scripts/common.sh).
AUTHORS_ROOTS = {
    "Caltech101": "caltech-101", "StanfordCars": "stanford_cars", "SUN397": "sun-397",
    "Food101": "food101", "DescribableTextures": "dtd/dtd", "EuroSAT": "eurosat",
    "OxfordFlowers": "flowers-102", "OxfordPets": "oxford_pets", "UCF101": "ucf101",
    "FGVCAircraft": "fgvc_aircraft/fgvc-aircraft-2013b", "ImageNet": "imagenet-1k",
}
RELEASED_MASK_SHORT_SIDE = 512


def build_authors_tree(name, data):
    """Data set ``name`` laid out under ``data`` exactly as the authors' download.

    ``--root`` is ``data/<AUTHORS_ROOTS[name]>``; masks are 512 px on the short side; the
    SUN397 image folder is in lower case (``sun-397/sun397/sun397/``) as in their tree.
    """
    root = os.path.join(data, AUTHORS_ROOTS[name])
    tree = BUILDERS[name](root)
    if name == "SUN397":
        upper = os.path.join(root, "sun397", "SUN397")
        lower = os.path.join(root, "sun397", "sun397")
        os.rmdir(upper)  # made empty by the builder; their tree has only the lower-case folder
        tree.images = [lower + p[len(upper):] for p in tree.images]
    for i, image in enumerate(tree.images):
        write_image(image, i)
        write_mask(mask_path_for(image, root), i, short_side=RELEASED_MASK_SHORT_SIDE)
    return tree


def folder_split_tree(root, name, dataset_dir, image_subdir, split_filename, folders, classnames):
    """Data sets split 50/20/30 from class folders (CoOp datasets/dtd.py): 8 images -> 4/2/2."""
    image_dir = os.path.join(root, dataset_dir, image_subdir)
    by_class = []
    for label, (folder, cname) in enumerate(zip(folders, classnames)):
        by_class.append([(os.path.join(image_dir, folder, f"{folder}_{i}.jpg"), label, cname)
                         for i in range(8)])
    per_class = (4, 2, 2)
    split_path = os.path.join(root, dataset_dir, split_filename)
    os.makedirs(image_dir, exist_ok=True)
    write_split(split_path, image_dir, *split_items(by_class, per_class))
    return FixtureTree(name, root, classnames, per_class, split_file=split_path,
                       class_folder=os.path.join(image_dir, folders[1]),
                       images=[p for items in by_class for p, _, _ in items])


def caltech101(root):
    # Caltech's clean-up: BACKGROUND_Google and Faces_easy dropped, Faces -> face,
    # airplanes -> airplane; labels follow case-sensitive sorted folder names.
    tree = folder_split_tree(root, "Caltech101", "caltech-101", "101_ObjectCategories",
                             "split_zhou_Caltech101.json", ["Faces", "accordion", "airplanes"],
                             ["face", "accordion", "airplane"])
    for ignored in ("BACKGROUND_Google", "Faces_easy"):
        tree.images += [os.path.join(root, "caltech-101", "101_ObjectCategories", ignored,
                                     f"image_000{i}.jpg") for i in range(1, 4)]
    return tree


def dtd(root):
    tree = folder_split_tree(root, "DescribableTextures", "dtd", "images",
                             "split_zhou_DescribableTextures.json",
                             ["banded", "blotchy", "braided"], ["banded", "blotchy", "braided"])
    write_text(os.path.join(root, "dtd", "labels", "train1.txt"), ["banded/banded_0.jpg"])
    return tree


def eurosat(root):
    return folder_split_tree(root, "EuroSAT", "eurosat", "2750", "split_zhou_EuroSAT.json",
                             ["AnnualCrop", "Forest", "SeaLake"],
                             ["Annual Crop Land", "Forest", "Sea or Lake"])


def food101(root):
    tree = folder_split_tree(root, "Food101", "food-101", "images", "split_zhou_Food101.json",
                             ["apple_pie", "baby_back_ribs", "baklava"],
                             ["apple_pie", "baby_back_ribs", "baklava"])
    write_text(os.path.join(root, "food-101", "meta", "classes.txt"),
               ["apple_pie", "baby_back_ribs", "baklava"])
    return tree


TRAINVAL_TEST = (5, 1, 2)  # 6 trainval images cut 80/20 by CoOp's split_trainval, 2 test


def write_trainval_test_split(split_path, image_dir, by_class):
    """The split file of a data set with official trainval/test lists."""
    os.makedirs(image_dir, exist_ok=True)
    write_split(split_path, image_dir, *split_items(by_class, TRAINVAL_TEST))


def oxford_pets(root):
    # annotations/{trainval,test}.txt: "<Image_Name_N> <class id> <species> <breed id>";
    # the class name is the image name without its number, lower-cased.
    breeds = [("Abyssinian", 1), ("american_bulldog", 2), ("american_pit_bull_terrier", 2)]
    image_dir = os.path.join(root, "oxford_pets", "images")
    by_class, trainval, test = [], [], []
    for label, (breed, species) in enumerate(breeds):
        names = [f"{breed}_{100 + i}" for i in range(8)]
        lines = [f"{n} {label + 1} {species} {label + 1}" for n in names]
        trainval += lines[:6]
        test += lines[6:]
        by_class.append([(os.path.join(image_dir, n + ".jpg"), label, breed.lower()) for n in names])
    anno_dir = os.path.join(root, "oxford_pets", "annotations")
    write_text(os.path.join(anno_dir, "trainval.txt"), trainval)
    write_text(os.path.join(anno_dir, "test.txt"), test)
    split_path = os.path.join(root, "oxford_pets", "split_zhou_OxfordPets.json")
    write_trainval_test_split(split_path, image_dir, by_class)
    return FixtureTree("OxfordPets", root, [b.lower() for b, _ in breeds], TRAINVAL_TEST,
                       split_file=split_path, annotation_file=os.path.join(anno_dir, "trainval.txt"),
                       class_folder=image_dir,
                       images=[p for items in by_class for p, _, _ in items])


def save_cars_annos(path, records):
    """A Stanford Cars ``annotations`` struct array (bbox_x1..bbox_y2, class 1-based, fname)."""
    from scipy.io import savemat

    fields = ["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname"]
    annos = np.zeros((1, len(records)), dtype=[(f, "O") for f in fields])
    for i, (fname, class_id) in enumerate(records):
        for f in fields[:4]:
            annos[0, i][f] = np.array([[1]], dtype=np.uint8)
        annos[0, i]["class"] = np.array([[class_id]], dtype=np.uint8)
        annos[0, i]["fname"] = np.array([fname])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    savemat(path, {"annotations": annos})


def stanford_cars(root):
    # devkit/cars_meta.mat "class_names"; the year moves to the front of the name.
    from scipy.io import savemat

    raw = ["AM General Hummer SUV 2000", "Acura RL Sedan 2012", "Acura TL Sedan 2012"]
    names = ["2000 AM General Hummer SUV", "2012 Acura RL Sedan", "2012 Acura TL Sedan"]
    base = os.path.join(root, "stanford_cars")
    meta = np.empty((1, len(raw)), dtype=object)
    for i, r in enumerate(raw):
        meta[0, i] = np.array([r])
    os.makedirs(os.path.join(base, "devkit"), exist_ok=True)
    savemat(os.path.join(base, "devkit", "cars_meta.mat"), {"class_names": meta})

    by_class, train_records, test_records = [], [], []
    for label in range(len(raw)):
        train_names = [f"{label * 6 + i + 1:05d}.jpg" for i in range(6)]
        test_names = [f"{label * 2 + i + 1:05d}.jpg" for i in range(2)]
        train_records += [(n, label + 1) for n in train_names]
        test_records += [(n, label + 1) for n in test_names]
        by_class.append([(os.path.join(base, "cars_train", n), label, names[label]) for n in train_names]
                        + [(os.path.join(base, "cars_test", n), label, names[label]) for n in test_names])
    save_cars_annos(os.path.join(base, "devkit", "cars_train_annos.mat"), train_records)
    save_cars_annos(os.path.join(base, "cars_test_annos_withlabels.mat"), test_records)
    split_path = os.path.join(root, "stanford_cars", "split_zhou_StanfordCars.json")
    write_trainval_test_split(split_path, base, by_class)
    return FixtureTree("StanfordCars", root, names, TRAINVAL_TEST, split_file=split_path,
                       annotation_file=os.path.join(base, "devkit", "cars_meta.mat"),
                       class_folder=os.path.join(base, "cars_train"),
                       images=[p for items in by_class for p, _, _ in items])


def oxford_flowers(root):
    # imagelabels.mat "labels": 1-based label of jpg/image_{i:05d}.jpg; names in cat_to_name.json.
    from scipy.io import savemat

    names = ["pink primrose", "hard-leaved pocket orchid", "canterbury bells"]
    base = os.path.join(root, "oxford_flowers")
    image_dir = os.path.join(base, "jpg")
    labels = [i % 3 + 1 for i in range(24)]  # interleaved, as in the real file
    os.makedirs(image_dir, exist_ok=True)
    savemat(os.path.join(base, "imagelabels.mat"), {"labels": np.array([labels], dtype=np.uint8)})
    with open(os.path.join(base, "cat_to_name.json"), "w") as f:
        json.dump({str(i + 1): n for i, n in enumerate(names)}, f)
    by_class = [[(os.path.join(image_dir, f"image_{i + 1:05d}.jpg"), label - 1, names[label - 1])
                 for i, y in enumerate(labels) if y == label] for label in (1, 2, 3)]
    per_class = (4, 2, 2)
    split_path = os.path.join(base, "split_zhou_OxfordFlowers.json")
    write_split(split_path, image_dir, *split_items(by_class, per_class))
    return FixtureTree("OxfordFlowers", root, names, per_class, split_file=split_path,
                       annotation_file=os.path.join(base, "imagelabels.mat"),
                       class_folder=image_dir,
                       images=[p for items in by_class for p, _, _ in items])


def fgvc_aircraft(root):
    # The data/ folder of fgvc-aircraft-2013b: variants.txt and images_variant_<part>.txt
    # with lines "<image id> <variant>"; no split file.
    names = ["707-320", "A300B4", "Cessna 172"]
    base = os.path.join(root, "fgvc_aircraft")
    per_class = (4, 2, 2)
    write_text(os.path.join(base, "variants.txt"), names)
    write_text(os.path.join(base, "families.txt"), ["Boeing 707", "A300", "Cessna 172"])
    images, lines = [], {"train": [], "val": [], "test": []}
    for label, variant in enumerate(names):
        ids = [f"{1000000 + label * 8 + i}" for i in range(8)]
        lines["train"] += [f"{i} {variant}" for i in ids[:4]]
        lines["val"] += [f"{i} {variant}" for i in ids[4:6]]
        lines["test"] += [f"{i} {variant}" for i in ids[6:]]
        images += [os.path.join(base, "images", i + ".jpg") for i in ids]
    for part, part_lines in lines.items():
        write_text(os.path.join(base, f"images_variant_{part}.txt"), part_lines)
    return FixtureTree("FGVCAircraft", root, names, per_class,
                       annotation_file=os.path.join(base, "variants.txt"),
                       class_folder=os.path.join(base, "images"), images=images)


def sun397(root):
    # ClassName.txt "/a/abbey"; Training_01.txt "/a/abbey/sun_x.jpg"; the class name
    # drops the letter and reverses the rest.
    class_dirs = ["a/abbey", "a/apartment_building/outdoor", "b/bedroom"]
    names = ["abbey", "outdoor apartment_building", "bedroom"]
    base = os.path.join(root, "sun397")
    image_dir = os.path.join(base, "SUN397")
    write_text(os.path.join(base, "ClassName.txt"), ["/" + d for d in class_dirs])
    by_class, training, testing = [], [], []
    for label, d in enumerate(class_dirs):
        rels = [f"{d}/sun_{label}{chr(97 + i) * 3}.jpg" for i in range(8)]
        training += ["/" + r for r in rels[:6]]
        testing += ["/" + r for r in rels[6:]]
        by_class.append([(os.path.join(image_dir, r), label, names[label]) for r in rels])
    write_text(os.path.join(base, "Training_01.txt"), training)
    write_text(os.path.join(base, "Testing_01.txt"), testing)
    split_path = os.path.join(root, "sun397", "split_zhou_SUN397.json")
    write_trainval_test_split(split_path, image_dir, by_class)
    return FixtureTree("SUN397", root, names, TRAINVAL_TEST, split_file=split_path,
                       annotation_file=os.path.join(base, "ClassName.txt"),
                       class_folder=os.path.join(image_dir, "a", "abbey"),
                       images=[p for items in by_class for p, _, _ in items])


def ucf101(root):
    # ucfTrainTestlist/classInd.txt "1 ApplyEyeMakeup"; trainlist01.txt
    # "ApplyEyeMakeup/v_..._g08_c01.avi 1"; testlist01.txt without the label. Frames
    # live in UCF-101-midframes/Apply_Eye_Makeup/v_..._g08_c01.jpg.
    actions = ["ApplyEyeMakeup", "ApplyLipstick", "Archery"]
    names = ["Apply_Eye_Makeup", "Apply_Lipstick", "Archery"]
    base = os.path.join(root, "ucf101")
    image_dir = os.path.join(base, "UCF-101-midframes")
    lists = os.path.join(base, "ucfTrainTestlist")
    write_text(os.path.join(lists, "classInd.txt"), [f"{i + 1} {a}" for i, a in enumerate(actions)])
    by_class, trainlist, testlist = [], [], []
    for label, action in enumerate(actions):
        videos = [f"v_{action}_g{g:02d}_c01" for g in range(1, 9)]
        trainlist += [f"{action}/{v}.avi {label + 1}" for v in videos[:6]]
        testlist += [f"{action}/{v}.avi" for v in videos[6:]]
        by_class.append([(os.path.join(image_dir, names[label], v + ".jpg"), label, names[label])
                         for v in videos])
    write_text(os.path.join(lists, "trainlist01.txt"), trainlist)
    write_text(os.path.join(lists, "testlist01.txt"), testlist)
    split_path = os.path.join(root, "ucf101", "split_zhou_UCF101.json")
    write_trainval_test_split(split_path, image_dir, by_class)
    return FixtureTree("UCF101", root, names, TRAINVAL_TEST, split_file=split_path,
                       annotation_file=os.path.join(lists, "classInd.txt"),
                       class_folder=os.path.join(image_dir, names[1]),
                       images=[p for items in by_class for p, _, _ in items])


IMAGENET_CLASSES = [("n01440764", "tench"), ("n01443537", "goldfish"),
                    ("n01484850", "great white shark"), ("n01498041", "stingray"),
                    ("n01531178", "goldfinch")]


def write_classnames(dataset_dir):
    """``classnames.txt``: "<wnid> <class name>" per line (CoOp's ImageNet file)."""
    path = os.path.join(dataset_dir, "classnames.txt")
    write_text(path, [f"{w} {n}" for w, n in IMAGENET_CLASSES])
    return path


def imagenet(root):
    # images/{train,val}/<wnid>/; val is the test set (and the val set).
    base = os.path.join(root, "imagenet")
    classnames_file = write_classnames(base)
    images = []
    for wnid, _ in IMAGENET_CLASSES:
        images += [os.path.join(base, "images", "train", wnid, f"{wnid}_{i}.JPEG") for i in range(6)]
        images += [os.path.join(base, "images", "val", wnid, f"ILSVRC2012_val_{wnid}{i}.JPEG")
                   for i in range(2)]
    return FixtureTree("ImageNet", root, [n for _, n in IMAGENET_CLASSES], (6, 2, 2),
                       annotation_file=classnames_file,
                       class_folder=os.path.join(base, "images", "train", IMAGENET_CLASSES[1][0]),
                       images=images)


def imagenetv2(root):
    # Folders named by label: imagenetv2-matched-frequency-format-val/<0..999>/<hash>.jpeg.
    base = os.path.join(root, "imagenetv2")
    classnames_file = write_classnames(base)
    image_dir = os.path.join(base, "imagenetv2-matched-frequency-format-val")
    images = [os.path.join(image_dir, str(label), f"{label}abc{i}.jpeg")
              for label in range(len(IMAGENET_CLASSES)) for i in range(3)]
    return FixtureTree("ImageNetV2", root, [n for _, n in IMAGENET_CLASSES], (3, 0, 3),
                       annotation_file=classnames_file, class_folder=os.path.join(image_dir, "1"),
                       images=images)


def imagenet_sketch(root):
    base = os.path.join(root, "imagenet-sketch")
    classnames_file = write_classnames(base)
    images = [os.path.join(base, "images", w, f"sketch_{i}.JPEG")
              for w, _ in IMAGENET_CLASSES for i in range(3)]
    return FixtureTree("ImageNetSketch", root, [n for _, n in IMAGENET_CLASSES], (3, 0, 3),
                       annotation_file=classnames_file,
                       class_folder=os.path.join(base, "images", IMAGENET_CLASSES[2][0]),
                       images=images)


def imagenet_subset(name, root, dataset_dir, image_subdir, wnids):
    """ImageNet-A/R: folders for a subset of the classes, a README.txt beside them."""
    base = os.path.join(root, dataset_dir)
    classnames_file = write_classnames(base)
    image_dir = os.path.join(base, image_subdir)
    write_text(os.path.join(image_dir, "README.txt"), ["class subset of ImageNet"])
    images = [os.path.join(image_dir, w, f"0.00{i}_{w} _ {w}_0.5.jpg") for w in wnids for i in range(3)]
    lookup = dict(IMAGENET_CLASSES)
    return FixtureTree(name, root, [lookup[w] for w in sorted(wnids)], (3, 0, 3),
                       annotation_file=classnames_file, class_folder=image_dir, images=images)


def imagenet_a(root):
    return imagenet_subset("ImageNetA", root, "imagenet-adversarial", "imagenet-a",
                           ["n01498041", "n01443537", "n01531178"])


def imagenet_r(root):
    return imagenet_subset("ImageNetR", root, "imagenet-rendition", "imagenet-r",
                           ["n01443537", "n01484850", "n01531178"])


BUILDERS = {
    "OxfordPets": oxford_pets, "Caltech101": caltech101, "StanfordCars": stanford_cars,
    "OxfordFlowers": oxford_flowers, "Food101": food101, "FGVCAircraft": fgvc_aircraft,
    "SUN397": sun397, "DescribableTextures": dtd, "EuroSAT": eurosat, "UCF101": ucf101,
    "ImageNet": imagenet, "ImageNetV2": imagenetv2, "ImageNetSketch": imagenet_sketch,
    "ImageNetA": imagenet_a, "ImageNetR": imagenet_r,
}
