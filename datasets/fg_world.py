"""FG-World: the embedded procedural foreground benchmark (see fvgpt/world/README.md).

Generated on first use under ``DATASET.ROOT`` with the generator seed ``DATASET.WORLD_SEED``
(default 0; one world per root), then read like CoOp's data sets: ``fg_world/split_zhou_FGWorld.json``, few-shot caches in
``fg_world/split_fewshot/``, masks under ``ROOT/mask/fg_world/``.
"""
import os

from dassl.data.datasets import DATASET_REGISTRY, DatasetBase

from fvgpt.world.generate import DATASET_DIR, SPLIT_FILE, ensure_world

from .folders import check_split_images
from .splits import fewshot_train_val, read_split, subsample_classes


@DATASET_REGISTRY.register()
class FGWorld(DatasetBase):
    """36 colour x shape classes (18 base, 18 new) on misleading train backgrounds."""

    dataset_dir = DATASET_DIR

    def __init__(self, cfg):
        root = os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT))
        ensure_world(root, cfg.DATASET.WORLD_SEED)
        self.dataset_dir = os.path.join(root, self.dataset_dir)
        self.image_dir = os.path.join(self.dataset_dir, "images")
        self.split_path = os.path.join(self.dataset_dir, SPLIT_FILE)
        self.split_fewshot_dir = os.path.join(self.dataset_dir, "split_fewshot")

        check_split_images(self.split_path, self.image_dir)
        train, val, test = read_split(self.split_path, self.image_dir)
        train, val = fewshot_train_val(self, cfg, train, val, self.split_fewshot_dir)
        train, val, test = subsample_classes(train, val, test,
                                             subsample=cfg.DATASET.SUBSAMPLE_CLASSES)
        super().__init__(train_x=train, val=val, test=test)
