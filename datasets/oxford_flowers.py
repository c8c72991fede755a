"""Oxford Flowers-102 reader (folder layout: CoOp DATASETS.md, "Flowers102")."""
import os

from dassl.data.datasets import DATASET_REGISTRY

from .folders import check_images_exist, load_mat, read_json_file, split_per_class
from .split_dataset import SplitFileDataset


@DATASET_REGISTRY.register()
class OxfordFlowers(SplitFileDataset):
    """102 flowers in ``oxford_flowers/jpg/``.

    Beside ``jpg/``: ``imagelabels.mat``, ``cat_to_name.json``, ``split_zhou_OxfordFlowers.json``.
    """

    dataset_dir = "oxford_flowers"
    image_subdir = "jpg"
    split_filename = "split_zhou_OxfordFlowers.json"

    def read_annotations(self):
        """50/20/30 split per class of the labels in ``imagelabels.mat`` (CoOp datasets/oxford_flowers.py).

        The i-th label (1-based) belongs to ``jpg/image_{i:05d}.jpg``; names come
        from ``cat_to_name.json`` keyed by the 1-based label as a string.
        """
        label_file = os.path.join(self.dataset_dir, "imagelabels.mat")
        name_file = os.path.join(self.dataset_dir, "cat_to_name.json")
        labels = load_mat(label_file, "OxfordFlowers label file")["labels"].ravel()
        lab2cname = read_json_file(name_file, "OxfordFlowers class-name file")

        impaths_of = {}
        for i, label in enumerate(labels, 1):
            impaths_of.setdefault(int(label), []).append(
                os.path.join(self.image_dir, f"image_{i:05d}.jpg"))
        check_images_exist([p for paths in impaths_of.values() for p in paths], label_file)

        unnamed = sorted(set(impaths_of) - {int(k) for k in lab2cname})
        if unnamed:
            raise ValueError(f"{name_file} has no name for label(s) {unnamed} of {label_file}.")
        return split_per_class(
            (label - 1, lab2cname[str(label)], impaths_of[label], f"Flower class {label}")
            for label in sorted(impaths_of))
