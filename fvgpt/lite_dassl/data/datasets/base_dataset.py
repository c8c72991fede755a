"""``Datum`` (one labelled image) and ``DatasetBase`` (train_x/train_u/val/test splits)."""
import os.path as osp
import random
from collections import defaultdict

__all__ = ["Datum", "DatasetBase"]


class Datum:
    """One image: path, class label, domain label and class name.

    The attribute names (``_impath``, ``_label``, ``_domain``, ``_classname``) and the
    pickled class path (``dassl.data.datasets.base_dataset.Datum``) are Dassl's, so the
    few-shot split caches (.pkl) written under either engine load under the other.
    """

    def __init__(self, impath="", label=0, domain=0, classname=""):
        if not isinstance(impath, str):
            raise TypeError(f"Datum impath must be a str, got {type(impath).__name__}")
        if not osp.isfile(impath):
            raise FileNotFoundError(f'Datum image file not found: "{impath}"')
        self._impath = impath
        self._label = label
        self._domain = domain
        self._classname = classname

    @property
    def impath(self):
        return self._impath

    @property
    def label(self):
        return self._label

    @property
    def domain(self):
        return self._domain

    @property
    def classname(self):
        return self._classname

    def __repr__(self):
        return (
            f"Datum(impath={self._impath!r}, label={self._label}, "
            f"domain={self._domain}, classname={self._classname!r})"
        )


# Pickles refer to the class by this path; fvgpt.dassl_backend registers the module under it.
Datum.__module__ = "dassl.data.datasets.base_dataset"


class DatasetBase:
    """Holds the splits as lists of Datum; derives num_classes, lab2cname and classnames from train_x."""

    dataset_dir = ""  # folder of the dataset, relative to DATASET.ROOT
    domains = []  # names of the domains (for multi-domain datasets)

    def __init__(self, train_x=None, train_u=None, val=None, test=None):
        self._train_x = train_x
        self._train_u = train_u
        self._val = val
        self._test = test
        self._num_classes = self.get_num_classes(train_x)
        self._lab2cname, self._classnames = self.get_lab2cname(train_x)

    @property
    def train_x(self):
        return self._train_x

    @property
    def train_u(self):
        return self._train_u

    @property
    def val(self):
        return self._val

    @property
    def test(self):
        return self._test

    @property
    def lab2cname(self):
        return self._lab2cname

    @property
    def classnames(self):
        return self._classnames

    @property
    def num_classes(self):
        return self._num_classes

    @staticmethod
    def get_num_classes(data_source):
        """Largest label + 1."""
        return max(item.label for item in data_source) + 1

    @staticmethod
    def get_lab2cname(data_source):
        """``({label: classname}, [classname ordered by label])``."""
        mapping = {item.label: item.classname for item in data_source}
        classnames = [mapping[label] for label in sorted(mapping)]
        return mapping, classnames

    def check_input_domains(self, source_domains, target_domains):
        """Both lists non-empty and made of names in ``self.domains``."""
        if len(source_domains) == 0:
            raise ValueError("source_domains (list) is empty")
        if len(target_domains) == 0:
            raise ValueError("target_domains (list) is empty")
        self.is_input_domain_valid(source_domains)
        self.is_input_domain_valid(target_domains)

    def is_input_domain_valid(self, input_domains):
        for domain in input_domains:
            if domain not in self.domains:
                raise ValueError(f"Input domain must belong to {self.domains}, but got [{domain}]")

    def generate_fewshot_dataset(self, *data_sources, num_shots=-1, repeat=False):
        """Keep ``num_shots`` random items per label of each data source.

        Per label (in order of first appearance) ``random.sample`` draws ``num_shots`` items;
        a label with fewer items keeps them all, or with ``repeat`` draws ``num_shots`` with
        replacement (``random.choices``). Same random calls as Dassl, so a seed gives the
        same split. Returns one list for one source, else a list of lists; ``num_shots`` < 1
        returns the input unchanged.
        """
        if num_shots < 1:
            return data_sources[0] if len(data_sources) == 1 else data_sources

        print(f"Creating a {num_shots}-shot dataset")
        output = []
        for data_source in data_sources:
            fewshot = []
            for items in self.split_dataset_by_label(data_source).values():
                if len(items) >= num_shots:
                    fewshot.extend(random.sample(items, num_shots))
                elif repeat:
                    fewshot.extend(random.choices(items, k=num_shots))
                else:
                    fewshot.extend(items)
            output.append(fewshot)
        return output[0] if len(output) == 1 else output

    def split_dataset_by_label(self, data_source):
        """``{label: [Datum, ...]}`` in order of first appearance."""
        output = defaultdict(list)
        for item in data_source:
            output[item.label].append(item)
        return output

    def split_dataset_by_domain(self, data_source):
        """``{domain: [Datum, ...]}`` in order of first appearance."""
        output = defaultdict(list)
        for item in data_source:
            output[item.domain].append(item)
        return output
