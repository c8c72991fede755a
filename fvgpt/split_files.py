"""CoOp's split-file format (KaiyangZhou/CoOp, datasets/oxford_pets.py, ``save_split``):
``{"train"|"val"|"test": [[image path relative to the image folder, label, classname], ...]}``."""
import json
import os


def split_file_text(train, val, test, path_prefix):
    """The JSON text of a split file for Datum lists, paths made relative to ``path_prefix``."""
    def convert(items):
        return [[os.path.relpath(d.impath, path_prefix), d.label, d.classname] for d in items]

    return json.dumps({"train": convert(train), "val": convert(val), "test": convert(test)},
                      indent=4)


def save_split(train, val, test, filepath, path_prefix):
    """Write a CoOp split file with image paths relative to ``path_prefix``."""
    with open(filepath, "w") as f:
        f.write(split_file_text(train, val, test, path_prefix))
