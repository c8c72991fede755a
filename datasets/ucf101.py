"""UCF101 (middle video frames) reader (folder layout: CoOp DATASETS.md, "UCF101")."""
import os
import re

from dassl.data.datasets import DATASET_REGISTRY

from .folders import make_items, malformed_line, read_lines
from .split_dataset import SplitFileDataset
from .splits import split_trainval


def split_camel_case(action):
    """"ApplyEyeMakeup" -> "Apply_Eye_Makeup": class name and frame folder (CoOp datasets/ucf101.py)."""
    return "_".join(re.findall("[A-Z][^A-Z]*", action))


@DATASET_REGISTRY.register()
class UCF101(SplitFileDataset):
    """101 actions in ``ucf101/UCF-101-midframes/<Action_Name>/`` (one middle frame per video).

    Beside it: ``ucfTrainTestlist/`` and ``split_zhou_UCF101.json``.
    """

    dataset_dir = "ucf101"
    image_subdir = "UCF-101-midframes"
    split_filename = "split_zhou_UCF101.json"

    def read_annotations(self):
        """Split 01 of ucfTrainTestlist; ``classInd.txt`` holds "<1-based id> <ActionName>"."""
        path = os.path.join(self.dataset_dir, "ucfTrainTestlist", "classInd.txt")
        cname2lab = {}
        for lineno, line in enumerate(read_lines(path, "UCF101 class list"), 1):
            fields = line.split()
            if len(fields) != 2 or not fields[0].isdigit():
                raise malformed_line(path, lineno, line, "'<class id> <ActionName>'")
            cname2lab[fields[1]] = int(fields[0]) - 1
        trainval = self.read_list(cname2lab, "trainlist01.txt")
        test = self.read_list(cname2lab, "testlist01.txt")
        train, val = split_trainval(trainval)
        return train, val, test

    def read_list(self, cname2lab, filename):
        """Items of lines "<ActionName>/<video>.avi[ <class id>]"; the frame is ``<video>.jpg``."""
        path = os.path.join(self.dataset_dir, "ucfTrainTestlist", filename)
        entries = []
        for lineno, line in enumerate(read_lines(path, "UCF101 split list"), 1):
            action, _, video = line.split()[0].partition("/")
            if action not in cname2lab or not video:
                raise malformed_line(path, lineno, line, "'<ActionName in classInd.txt>/<video>.avi'")
            classname = split_camel_case(action)
            frame = os.path.splitext(video)[0] + ".jpg"
            entries.append((os.path.join(self.image_dir, classname, frame), cname2lab[action], classname))
        return make_items(entries, path)
