"""Dataset registry and builder."""
from ...utils import Registry, check_availability

DATASET_REGISTRY = Registry("DATASET")


def build_dataset(cfg):
    """Instantiate the dataset registered as ``cfg.DATASET.NAME``."""
    check_availability(cfg.DATASET.NAME, DATASET_REGISTRY.registered_names())
    if cfg.VERBOSE:
        print(f"Loading dataset: {cfg.DATASET.NAME}")
    return DATASET_REGISTRY.get(cfg.DATASET.NAME)(cfg)
