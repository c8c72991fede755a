"""ImageNetV2 (matched frequency) reader, test only (folder layout: CoOp DATASETS.md, "ImageNetV2")."""
import os

from dassl.data.datasets import DATASET_REGISTRY, Datum, DatasetBase

from .folders import dataset_folder, image_files, require_dir
from .imagenet import read_classnames


@DATASET_REGISTRY.register()
class ImageNetV2(DatasetBase):
    """``imagenetv2/imagenetv2-matched-frequency-format-val/<label>/`` with folders named 0..999.

    Folder ``<i>`` holds class i of ``classnames.txt`` (CoOp datasets/imagenetv2.py).
    """

    dataset_dir = "imagenetv2"

    def __init__(self, cfg):
        self.dataset_dir = dataset_folder(cfg, self.dataset_dir)
        self.image_dir = os.path.join(self.dataset_dir, "imagenetv2-matched-frequency-format-val")
        classnames = read_classnames(os.path.join(self.dataset_dir, "classnames.txt"))
        data = []
        for label, classname in enumerate(classnames.values()):
            class_dir = os.path.join(self.image_dir, str(label))
            require_dir(class_dir, f"class folder of label {label} ({classname})")
            data.extend(Datum(impath=p, label=label, classname=classname)
                        for p in image_files(class_dir))
        super().__init__(train_x=data, test=data)
