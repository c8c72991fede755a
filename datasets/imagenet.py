"""ImageNet reader and the ImageNet class-folder helpers its variants share.

Folder layout: CoOp DATASETS.md, "ImageNet": ``imagenet/images/{train,val}/<wnid>/``
and ``imagenet/classnames.txt`` (lines "<wnid> <class name>", names from CLIP).
"""
import os
import pickle
from collections import OrderedDict

from dassl.data.datasets import DATASET_REGISTRY, Datum, DatasetBase

from .folders import class_folders, dataset_folder, image_files, malformed_line, read_lines
from .splits import fewshot_train_val, subsample_classes


def read_classnames(path):
    """``OrderedDict`` wnid -> class name from a ``classnames.txt``."""
    classnames = OrderedDict()
    for lineno, line in enumerate(read_lines(path, "ImageNet class-name file"), 1):
        wnid, _, name = line.partition(" ")
        if not name:
            raise malformed_line(path, lineno, line, "'<wnid> <class name>'")
        classnames[wnid] = name
    return classnames


def read_wnid_folders(image_dir, classnames, classnames_file, all_classes=True):
    """Items of the ``<wnid>/`` folders of ``image_dir``, labelled in sorted folder order.

    ``all_classes``: every class of ``classnames_file`` must have a folder (ImageNet,
    ImageNet-Sketch); otherwise the folders are a subset (ImageNet-A/R: 200 classes,
    labelled 0..199 as in CoOp datasets/imagenet_a.py).
    """
    folders = class_folders(image_dir, "image folder")
    unknown = [f for f in folders if f not in classnames]
    if unknown:
        raise ValueError(f"Folder(s) {unknown[:5]} in {image_dir} are not listed in "
                         f"{classnames_file}. Use the classnames.txt that CoOp's DATASETS.md links.")
    if all_classes:
        present = set(folders)
        missing = [w for w in classnames if w not in present]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} class folder(s) listed in {classnames_file} are missing from "
                f"{image_dir}, e.g. {os.path.join(image_dir, missing[0])}. Labels follow the "
                "folder order, so every class needs its folder: restore it.")
    return [Datum(impath=impath, label=label, classname=classnames[folder])
            for label, folder in enumerate(folders)
            for impath in image_files(os.path.join(image_dir, folder))]


class WnidFolderTestSet(DatasetBase):
    """A test-only ImageNet variant: ``<dataset_dir>/<image_subdir>/<wnid>/`` and ``classnames.txt``.

    Subclasses set ``dataset_dir``, ``image_subdir`` and ``all_classes`` (see read_wnid_folders).
    """

    image_subdir = "images"
    all_classes = True

    def __init__(self, cfg):
        self.dataset_dir = dataset_folder(cfg, self.dataset_dir)
        self.image_dir = os.path.join(self.dataset_dir, self.image_subdir)
        classnames_file = os.path.join(self.dataset_dir, "classnames.txt")
        data = read_wnid_folders(self.image_dir, read_classnames(classnames_file), classnames_file,
                                 all_classes=self.all_classes)
        super().__init__(train_x=data, test=data)


@DATASET_REGISTRY.register()
class ImageNet(DatasetBase):
    """ImageNet-1k; its val set is the test set (and the val set, as in CoOp)."""

    dataset_dir = "imagenet"

    def __init__(self, cfg):
        self.dataset_dir = dataset_folder(cfg, self.dataset_dir)
        self.image_dir = os.path.join(self.dataset_dir, "images")
        self.preprocessed = os.path.join(self.dataset_dir, "preprocessed.pkl")
        self.split_fewshot_dir = os.path.join(self.dataset_dir, "split_fewshot")

        if os.path.exists(self.preprocessed):
            train, test = self.load_preprocessed()
        else:
            classnames_file = os.path.join(self.dataset_dir, "classnames.txt")
            classnames = read_classnames(classnames_file)
            train = read_wnid_folders(os.path.join(self.image_dir, "train"), classnames, classnames_file)
            test = read_wnid_folders(os.path.join(self.image_dir, "val"), classnames, classnames_file)
            with open(self.preprocessed, "wb") as f:
                pickle.dump({"train": train, "test": test}, f, protocol=pickle.HIGHEST_PROTOCOL)

        # CoOp draws no few-shot val for ImageNet: val is the test set.
        train, _ = fewshot_train_val(self, cfg, train, [], self.split_fewshot_dir)
        train, test = subsample_classes(train, test, subsample=cfg.DATASET.SUBSAMPLE_CLASSES)
        super().__init__(train_x=train, val=test, test=test)

    def load_preprocessed(self):
        """Train and test lists cached in ``preprocessed.pkl``."""
        try:
            with open(self.preprocessed, "rb") as f:
                data = pickle.load(f)
            return data["train"], data["test"]
        except Exception as e:  # unpickling raises many types for a damaged file
            raise ValueError(f"Cannot read {self.preprocessed} ({e!r}). Delete it to have it "
                             "rebuilt from the image folders.") from None
