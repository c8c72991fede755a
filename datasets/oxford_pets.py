"""Oxford-IIIT Pets reader (folder layout: CoOp DATASETS.md, "OxfordPets")."""
import os

from dassl.data.datasets import DATASET_REGISTRY

from .folders import make_items, malformed_line, read_lines
from .split_dataset import SplitFileDataset
from .splits import split_trainval


@DATASET_REGISTRY.register()
class OxfordPets(SplitFileDataset):
    """37 breeds; ``oxford_pets/{images, annotations, split_zhou_OxfordPets.json}``."""

    dataset_dir = "oxford_pets"
    image_subdir = "images"
    split_filename = "split_zhou_OxfordPets.json"

    def read_annotations(self):
        trainval = self.read_list("trainval.txt")
        test = self.read_list("test.txt")
        train, val = split_trainval(trainval)
        return train, val, test

    def read_list(self, filename):
        """Items of ``annotations/<filename>``: lines "<Image_Name_12> <class id> <species> <breed id>".

        The class name is the image name without its trailing number, lower-cased
        (CoOp datasets/oxford_pets.py); class ids are 1-based.
        """
        path = os.path.join(self.dataset_dir, "annotations", filename)
        entries = []
        for lineno, line in enumerate(read_lines(path, "OxfordPets annotation file"), 1):
            fields = line.split()
            if len(fields) != 4 or not fields[1].isdigit():
                raise malformed_line(path, lineno, line, "'<image name> <class id> <species> <breed id>'")
            imname, class_id = fields[0], int(fields[1])
            breed = "_".join(imname.split("_")[:-1]).lower()
            entries.append((os.path.join(self.image_dir, imname + ".jpg"), class_id - 1, breed))
        return make_items(entries, path)
