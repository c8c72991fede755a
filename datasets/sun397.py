"""SUN397 reader (folder layout: CoOp DATASETS.md, "SUN397")."""
import os

from dassl.data.datasets import DATASET_REGISTRY

from .folders import make_items, malformed_line, read_lines
from .split_dataset import SplitFileDataset
from .splits import split_trainval


@DATASET_REGISTRY.register()
class SUN397(SplitFileDataset):
    """397 scenes in ``sun397/SUN397/<letter>/<scene>[/<qualifier>]/`` (``sun397/sun397/`` in
    the authors' masked release, JREion/FVG-PT docs/DATASETS.md).

    Beside ``SUN397/``: ``split_zhou_SUN397.json`` and, from Partitions.zip,
    ``ClassName.txt``, ``Training_01.txt``, ``Testing_01.txt``.
    """

    dataset_dir = "sun397"
    image_subdir = "SUN397"
    image_subdir_aliases = ("sun397",)
    split_filename = "split_zhou_SUN397.json"

    def read_annotations(self):
        """Partition 01 of the official Partitions.zip (CoOp datasets/sun397.py)."""
        class_dirs = [line.lstrip("/") for line in
                      read_lines(os.path.join(self.dataset_dir, "ClassName.txt"),
                                 "SUN397 class list")]
        cname2lab = {c: i for i, c in enumerate(class_dirs)}
        trainval = self.read_list(cname2lab, "Training_01.txt")
        test = self.read_list(cname2lab, "Testing_01.txt")
        train, val = split_trainval(trainval)
        return train, val, test

    def read_list(self, cname2lab, filename):
        """Items of lines "/<letter>/<scene>[/<qualifier>]/<image>.jpg".

        The class name drops the letter and reverses the rest, so
        "a/apartment_building/outdoor" becomes "outdoor apartment_building".
        """
        path = os.path.join(self.dataset_dir, filename)
        entries = []
        for lineno, line in enumerate(read_lines(path, "SUN397 partition file"), 1):
            imname = line.lstrip("/")
            class_dir = os.path.dirname(imname)
            if class_dir not in cname2lab:
                raise malformed_line(path, lineno, line, "'/<class folder in ClassName.txt>/<image>'")
            classname = " ".join(class_dir.split("/")[1:][::-1])
            entries.append((os.path.join(self.image_dir, imname), cname2lab[class_dir], classname))
        return make_items(entries, path)
