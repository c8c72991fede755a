"""Base of the readers of the 10 CoOp data sets that have a fixed train/val/test split."""
import os

from dassl.data.datasets import DatasetBase

from .folders import check_split_images, dataset_folder
from .splits import fewshot_train_val, read_split, save_split, subsample_classes


class SplitFileDataset(DatasetBase):
    """Train/val/test from ``split_zhou_<Name>.json``, else from the data set's annotations.

    As in every CoOp reader (KaiyangZhou/CoOp, datasets/*.py): when the split file
    is absent the split is built from the annotations and written to it; then the
    train/val few-shot sample is drawn (cached per seed) and the classes are
    halved into base/new by ``DATASET.SUBSAMPLE_CLASSES``.

    Subclasses set ``dataset_dir`` (folder under ``DATASET.ROOT``), ``image_subdir``
    (folder inside it that split paths are relative to), ``split_filename`` (None
    where CoOp always reads the official split from the annotations) and implement
    ``read_annotations``; ``image_subdir_aliases`` lists other names of ``image_subdir``
    in released copies, used when ``image_subdir`` itself is absent.
    """

    dataset_dir = ""
    image_subdir = ""
    image_subdir_aliases = ()
    split_filename = None

    def __init__(self, cfg):
        self.dataset_dir = dataset_folder(cfg, self.dataset_dir)
        self.image_dir = os.path.join(self.dataset_dir, self.image_subdir)
        present = [a for a in self.image_subdir_aliases
                   if os.path.isdir(os.path.join(self.dataset_dir, a))]
        if present and not os.path.isdir(self.image_dir):
            self.image_dir = os.path.join(self.dataset_dir, present[0])
        self.split_fewshot_dir = os.path.join(self.dataset_dir, "split_fewshot")
        self.split_path = (os.path.join(self.dataset_dir, self.split_filename)
                           if self.split_filename else None)

        if self.split_path and os.path.exists(self.split_path):
            check_split_images(self.split_path, self.image_dir)
            train, val, test = read_split(self.split_path, self.image_dir)
        else:
            train, val, test = self.read_annotations()
            if self.split_path:
                save_split(train, val, test, self.split_path, self.image_dir)

        train, val = fewshot_train_val(self, cfg, train, val, self.split_fewshot_dir)
        train, val, test = subsample_classes(train, val, test,
                                             subsample=cfg.DATASET.SUBSAMPLE_CLASSES)
        super().__init__(train_x=train, val=val, test=test)

    def read_annotations(self):
        """Lists of ``Datum`` for train, val and test, read from the annotation files."""
        raise NotImplementedError
