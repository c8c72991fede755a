"""Stanford Cars reader (folder layout: CoOp DATASETS.md, "StanfordCars")."""
import os

from dassl.data.datasets import DATASET_REGISTRY

from .folders import load_mat, make_items
from .split_dataset import SplitFileDataset
from .splits import split_trainval


@DATASET_REGISTRY.register()
class StanfordCars(SplitFileDataset):
    """196 car models in ``stanford_cars/{cars_train, cars_test}/``.

    Beside them: ``devkit/``, ``cars_test_annos_withlabels.mat`` and
    ``split_zhou_StanfordCars.json``.

    Split paths are relative to ``stanford_cars/`` itself (``cars_train/00001.jpg``).
    """

    dataset_dir = "stanford_cars"
    image_subdir = ""
    split_filename = "split_zhou_StanfordCars.json"

    def read_annotations(self):
        meta_file = os.path.join(self.dataset_dir, "devkit", "cars_meta.mat")
        classnames = [str(name[0]) for name in
                      load_mat(meta_file, "StanfordCars class-name file")["class_names"].ravel()]
        trainval = self.read_annos("cars_train",
                                   os.path.join(self.dataset_dir, "devkit", "cars_train_annos.mat"),
                                   classnames)
        test = self.read_annos("cars_test",
                               os.path.join(self.dataset_dir, "cars_test_annos_withlabels.mat"),
                               classnames)
        train, val = split_trainval(trainval)
        return train, val, test

    def read_annos(self, image_folder, anno_file, classnames):
        """Items of an ``annotations`` struct array (fields ``fname``, 1-based ``class``).

        The model year moves to the front of the class name, "Audi S4 Sedan 2012"
        becoming "2012 Audi S4 Sedan" (CoOp datasets/stanford_cars.py).
        """
        annos = load_mat(anno_file, "StanfordCars annotation file")["annotations"].ravel()
        entries = []
        for anno in annos:
            label = int(anno["class"].item()) - 1
            *model, year = classnames[label].split(" ")
            entries.append((os.path.join(self.dataset_dir, image_folder, str(anno["fname"].item())),
                            label, " ".join([year, *model])))
        return make_items(entries, anno_file)
