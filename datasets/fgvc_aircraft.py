"""FGVC-Aircraft reader (folder layout: CoOp DATASETS.md, "FGVCAircraft")."""
import os

from dassl.data.datasets import DATASET_REGISTRY

from .folders import make_items, malformed_line, read_lines
from .split_dataset import SplitFileDataset


@DATASET_REGISTRY.register()
class FGVCAircraft(SplitFileDataset):
    """100 aircraft variants; ``fgvc_aircraft/`` is the ``data/`` folder of fgvc-aircraft-2013b.

    There is no split file: the official ``images_variant_{train,val,test}.txt``
    are read every time (CoOp datasets/fgvc_aircraft.py).
    """

    dataset_dir = "fgvc_aircraft"
    image_subdir = "images"

    def read_annotations(self):
        classnames = read_lines(os.path.join(self.dataset_dir, "variants.txt"),
                                "FGVCAircraft class list")
        cname2lab = {c: i for i, c in enumerate(classnames)}
        return tuple(self.read_list(cname2lab, f"images_variant_{part}.txt")
                     for part in ("train", "val", "test"))

    def read_list(self, cname2lab, filename):
        """Items of lines "<image id> <variant name, may contain spaces>"."""
        path = os.path.join(self.dataset_dir, filename)
        entries = []
        for lineno, line in enumerate(read_lines(path, "FGVCAircraft split list"), 1):
            imname, _, classname = line.partition(" ")
            if classname not in cname2lab:
                raise malformed_line(path, lineno, line, "'<image id> <variant in variants.txt>'")
            entries.append((os.path.join(self.image_dir, imname + ".jpg"),
                            cname2lab[classname], classname))
        return make_items(entries, path)
