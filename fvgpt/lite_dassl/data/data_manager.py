"""Data loaders for a dataset built from the config (mirrors dassl/data/data_manager.py)."""
import torch
import torchvision.transforms as T
from torch.utils.data import Dataset as TorchDataset

from ..utils import read_image
from .datasets import build_dataset
from .samplers import build_sampler
from .transforms import INTERPOLATION_MODES, build_transform

__all__ = ["DataManager", "DatasetWrapper", "build_data_loader"]


def build_data_loader(
    cfg,
    sampler_type="SequentialSampler",
    data_source=None,
    batch_size=64,
    n_domain=0,
    n_ins=2,
    tfm=None,
    is_train=True,
    dataset_wrapper=None,
):
    """A DataLoader over ``dataset_wrapper(cfg, data_source, transform=tfm, is_train=is_train)``.

    Training loaders drop the last incomplete batch when there is at least one full batch.
    """
    sampler = build_sampler(
        sampler_type, cfg=cfg, data_source=data_source, batch_size=batch_size, n_domain=n_domain, n_ins=n_ins
    )
    if dataset_wrapper is None:
        dataset_wrapper = DatasetWrapper

    data_loader = torch.utils.data.DataLoader(
        dataset_wrapper(cfg, data_source, transform=tfm, is_train=is_train),
        batch_size=batch_size,
        sampler=sampler,
        num_workers=cfg.DATALOADER.NUM_WORKERS,
        drop_last=is_train and len(data_source) >= batch_size,
        pin_memory=(torch.cuda.is_available() and cfg.USE_CUDA),
    )
    if len(data_loader) == 0:
        raise ValueError(f"The data loader is empty ({len(data_source)} items, batch size {batch_size})")
    return data_loader


def _format_table(rows):
    """Two-column plain-text table framed by dashes (the look of ``tabulate`` without headers)."""
    rows = [(str(key), str(value)) for key, value in rows]
    width_key = max(len(key) for key, _ in rows)
    width_value = max(len(value) for _, value in rows)
    rule = "-" * width_key + "  " + "-" * width_value
    lines = [f"{key:<{width_key}}  {value:<{width_value}}".rstrip() for key, value in rows]
    return "\n".join([rule, *lines, rule])


class DataManager:
    """Builds the dataset named by ``cfg.DATASET.NAME``, its transforms and its loaders.

    Attributes: ``dataset``, ``train_loader_x``, ``train_loader_u`` (or None), ``val_loader``
    (or None), ``test_loader``, ``num_classes``, ``num_source_domains``, ``lab2cname``.
    """

    def __init__(self, cfg, custom_tfm_train=None, custom_tfm_test=None, dataset_wrapper=None):
        dataset = build_dataset(cfg)

        if custom_tfm_train is None:
            tfm_train = build_transform(cfg, is_train=True)
        else:
            print("* Using custom transform for training")
            tfm_train = custom_tfm_train

        if custom_tfm_test is None:
            tfm_test = build_transform(cfg, is_train=False)
        else:
            print("* Using custom transform for testing")
            tfm_test = custom_tfm_test

        def train_loader(loader_cfg, data_source):
            return build_data_loader(
                cfg,
                sampler_type=loader_cfg.SAMPLER,
                data_source=data_source,
                batch_size=loader_cfg.BATCH_SIZE,
                n_domain=loader_cfg.N_DOMAIN,
                n_ins=loader_cfg.N_INS,
                tfm=tfm_train,
                is_train=True,
                dataset_wrapper=dataset_wrapper,
            )

        x_cfg = cfg.DATALOADER.TRAIN_X
        self.train_loader_x = train_loader(x_cfg, dataset.train_x)
        self.train_loader_u = None
        if dataset.train_u:
            u_cfg = x_cfg if cfg.DATALOADER.TRAIN_U.SAME_AS_X else cfg.DATALOADER.TRAIN_U
            self.train_loader_u = train_loader(u_cfg, dataset.train_u)

        def test_loader(data_source):
            return build_data_loader(
                cfg,
                sampler_type=cfg.DATALOADER.TEST.SAMPLER,
                data_source=data_source,
                batch_size=cfg.DATALOADER.TEST.BATCH_SIZE,
                tfm=tfm_test,
                is_train=False,
                dataset_wrapper=dataset_wrapper,
            )

        self.val_loader = test_loader(dataset.val) if dataset.val else None
        self.test_loader = test_loader(dataset.test)

        self.dataset = dataset
        self._num_classes = dataset.num_classes
        self._num_source_domains = len(cfg.DATASET.SOURCE_DOMAINS)
        self._lab2cname = dataset.lab2cname

        if cfg.VERBOSE:
            self.show_dataset_summary(cfg)

    @property
    def num_classes(self):
        return self._num_classes

    @property
    def num_source_domains(self):
        return self._num_source_domains

    @property
    def lab2cname(self):
        return self._lab2cname

    def show_dataset_summary(self, cfg):
        """Print dataset name, domains, class count and split sizes."""
        rows = [["Dataset", cfg.DATASET.NAME]]
        if cfg.DATASET.SOURCE_DOMAINS:
            rows.append(["Source", cfg.DATASET.SOURCE_DOMAINS])
        if cfg.DATASET.TARGET_DOMAINS:
            rows.append(["Target", cfg.DATASET.TARGET_DOMAINS])
        rows.append(["# classes", f"{self.num_classes:,}"])
        rows.append(["# train_x", f"{len(self.dataset.train_x):,}"])
        if self.dataset.train_u:
            rows.append(["# train_u", f"{len(self.dataset.train_u):,}"])
        if self.dataset.val:
            rows.append(["# val", f"{len(self.dataset.val):,}"])
        rows.append(["# test", f"{len(self.dataset.test):,}"])
        print(_format_table(rows))


class DatasetWrapper(TorchDataset):
    """Reads the images of a list of Datum and applies the transform(s).

    Items are dicts with "label", "domain", "impath", "index" and "img" (plus "img2",
    "img3", ... when ``transform`` is a list of transforms, and "img0", the image only
    resized/normalised, when DATALOADER.RETURN_IMG0). In training, with
    DATALOADER.K_TRANSFORMS = K > 1, each "img*" entry is a list of K augmented views.
    """

    def __init__(self, cfg, data_source, transform=None, is_train=False):
        self.cfg = cfg
        self.data_source = data_source
        self.transform = transform  # a transform, or a list/tuple of transforms
        self.is_train = is_train
        self.k_tfm = cfg.DATALOADER.K_TRANSFORMS if is_train else 1
        self.return_img0 = cfg.DATALOADER.RETURN_IMG0

        if self.k_tfm > 1 and transform is None:
            raise ValueError(f"Cannot augment the image {self.k_tfm} times because transform is None")

        interp_mode = INTERPOLATION_MODES[cfg.INPUT.INTERPOLATION]
        to_tensor = [T.Resize(cfg.INPUT.SIZE, interpolation=interp_mode), T.ToTensor()]
        if "normalize" in cfg.INPUT.TRANSFORMS:
            to_tensor.append(T.Normalize(mean=cfg.INPUT.PIXEL_MEAN, std=cfg.INPUT.PIXEL_STD))
        self.to_tensor = T.Compose(to_tensor)

    def __len__(self):
        return len(self.data_source)

    def __getitem__(self, idx):
        item = self.data_source[idx]
        output = {"label": item.label, "domain": item.domain, "impath": item.impath, "index": idx}

        img0 = read_image(item.impath)
        if self.transform is None:
            output["img"] = img0
        elif isinstance(self.transform, (list, tuple)):
            for i, tfm in enumerate(self.transform):
                output["img" if i == 0 else f"img{i + 1}"] = self._transform_image(tfm, img0)
        else:
            output["img"] = self._transform_image(self.transform, img0)

        if self.return_img0:
            output["img0"] = self.to_tensor(img0)
        return output

    def _transform_image(self, tfm, img0):
        views = [tfm(img0) for _ in range(self.k_tfm)]
        return views[0] if len(views) == 1 else views
