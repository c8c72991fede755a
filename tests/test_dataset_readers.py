"""The data-set readers on tiny trees in each data set's real layout (tests/fixture_trees.py)."""
import os
import shutil

import pytest

from dassl.data.datasets import DATASET_REGISTRY

from fvgpt.templates import DEFAULT_TEMPLATE, template_for
from fixture_trees import (ALL_DATASETS, AUTHORS_ROOTS, CONFIG_FILES, REPO_CONFIGS, TEST_ONLY,
                           TRAINABLE, build_authors_tree, build_reader, build_tree, reader_cfg)
from fvgpt.masks import audit_masks, mask_path_for

WITH_SPLIT_FILE = [n for n in TRAINABLE if n not in ("FGVCAircraft", "ImageNet")]
WITH_ANNOTATION_FILE = [n for n in ALL_DATASETS
                        if n not in ("Caltech101", "DescribableTextures", "EuroSAT", "Food101")]


def relpaths(items, root):
    return [os.path.relpath(item.impath, root) for item in items]


@pytest.mark.parametrize("name", ALL_DATASETS)
def test_reader_finds_classes_labels_and_splits(tmp_path, name):
    tree = build_tree(name, str(tmp_path))
    data = build_reader(reader_cfg(tree.root, name))

    assert data.classnames == tree.classnames
    assert data.num_classes == len(tree.classnames)
    for item in data.train_x + data.test:
        assert item.classname == tree.classnames[item.label]
    assert len(data.train_x) == tree.size("train")
    assert len(data.test) == tree.size("test")
    if name in TEST_ONLY:
        assert data.train_x == data.test
    else:
        assert len(data.val) == tree.size("val")


@pytest.mark.parametrize("name", WITH_SPLIT_FILE)
def test_split_file_is_built_from_annotations_when_absent(tmp_path, name):
    tree = build_tree(name, str(tmp_path))
    os.remove(tree.split_file)

    data = build_reader(reader_cfg(tree.root, name))

    assert os.path.isfile(tree.split_file)
    assert data.classnames == tree.classnames
    assert [len(data.train_x), len(data.val), len(data.test)] == \
        [tree.size("train"), tree.size("val"), tree.size("test")]
    again = build_reader(reader_cfg(tree.root, name, seed=2))  # now read from the written file
    assert relpaths(again.train_x, tree.root) == relpaths(data.train_x, tree.root)


@pytest.mark.parametrize("name", TRAINABLE)
def test_fewshot_sample_depends_only_on_the_seed(tmp_path, name):
    def sample(seed, copy):
        tree = build_tree(name, str(tmp_path / f"seed{seed}-{copy}"))
        data = build_reader(reader_cfg(tree.root, name, seed=seed, num_shots=2))
        return tree, data, sorted(relpaths(data.train_x, tree.root))

    tree, data, first = sample(1, "a")
    _, _, same_seed = sample(1, "b")
    other_seeds = [sample(seed, "a")[2] for seed in (2, 3)]

    assert len(data.train_x) == 2 * len(tree.classnames)
    assert first == same_seed
    assert any(other != first for other in other_seeds)
    cache = os.path.join(data.split_fewshot_dir, "shot_2-seed_1.pkl")
    assert os.path.isfile(cache)
    cached = build_reader(reader_cfg(tree.root, name, seed=1, num_shots=2))
    assert sorted(relpaths(cached.train_x, tree.root)) == first


@pytest.mark.parametrize("name", TRAINABLE)
def test_base_and_new_halves_are_relabelled_from_zero(tmp_path, name):
    tree = build_tree(name, str(tmp_path))
    n_base = (len(tree.classnames) + 1) // 2

    base = build_reader(reader_cfg(tree.root, name, subsample="base"))
    new = build_reader(reader_cfg(tree.root, name, subsample="new"))

    assert base.classnames == tree.classnames[:n_base]
    assert new.classnames == tree.classnames[n_base:]
    for data in (base, new):
        for item in data.train_x + data.val + data.test:
            assert item.classname == data.classnames[item.label]
    assert len(new.test) == tree.per_class[2] * (len(tree.classnames) - n_base)


@pytest.mark.parametrize("name", ALL_DATASETS)
def test_every_training_image_has_its_mask(tmp_path, name):
    tree = build_tree(name, str(tmp_path))
    data = build_reader(reader_cfg(tree.root, name, num_shots=2))
    for item in data.train_x:
        assert os.path.isfile(mask_path_for(item.impath, tree.root))


@pytest.mark.parametrize("name", sorted(AUTHORS_ROOTS))
def test_the_authors_download_is_read_as_is(tmp_path, name):
    """Their per-data-set --root, mask/ beside the data set folder, masks 512 px on the short side."""
    tree = build_authors_tree(name, str(tmp_path))
    data = build_reader(reader_cfg(tree.root, name, num_shots=2))

    assert data.classnames == tree.classnames
    assert {item.impath for item in data.train_x} <= set(tree.images)
    report = audit_masks([item.impath for item in data.train_x], tree.root)
    assert report.failures() == {}
    assert len(report.resized) == len(data.train_x) == 2 * len(tree.classnames)
    # NEAREST back to 10x8 gives each mask its drawn box of 1 to 4 of the 8 rows
    assert report.areas == [(1 + tree.images.index(item.impath) % 4) / 8 for item in data.train_x]


@pytest.mark.parametrize("name", WITH_SPLIT_FILE)
def test_bad_json_split_names_the_file(tmp_path, name):
    tree = build_tree(name, str(tmp_path))
    with open(tree.split_file, "w") as f:
        f.write('{"train": [["a.jpg", 0, "a"]')

    with pytest.raises(ValueError, match="not valid JSON") as err:
        build_reader(reader_cfg(tree.root, name))
    assert tree.split_file in str(err.value)


@pytest.mark.parametrize("name", ALL_DATASETS)
def test_missing_class_folder_is_named(tmp_path, name):
    tree = build_tree(name, str(tmp_path))
    shutil.rmtree(tree.class_folder)

    with pytest.raises(FileNotFoundError) as err:
        build_reader(reader_cfg(tree.root, name))
    assert tree.class_folder in str(err.value)


@pytest.mark.parametrize("name", WITH_ANNOTATION_FILE)
def test_missing_annotation_file_is_named(tmp_path, name):
    tree = build_tree(name, str(tmp_path))
    if tree.split_file:
        os.remove(tree.split_file)
    os.remove(tree.annotation_file)

    with pytest.raises(FileNotFoundError) as err:
        build_reader(reader_cfg(tree.root, name))
    assert tree.annotation_file in str(err.value)


@pytest.mark.parametrize("name", WITH_SPLIT_FILE)
def test_image_missing_from_a_class_folder_is_named(tmp_path, name):
    tree = build_tree(name, str(tmp_path))
    data = build_reader(reader_cfg(tree.root, name))
    lost = data.train_x[0].impath
    os.remove(lost)

    with pytest.raises(FileNotFoundError) as err:
        build_reader(reader_cfg(tree.root, name))
    assert lost in str(err.value)


def test_missing_data_set_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="oxford_pets"):
        build_reader(reader_cfg(str(tmp_path), "OxfordPets"))


@pytest.mark.parametrize("name", ALL_DATASETS)
def test_each_data_set_has_a_config_and_a_template(name):
    from yacs.config import CfgNode

    with open(os.path.join(REPO_CONFIGS, CONFIG_FILES[name])) as f:
        assert CfgNode.load_cfg(f).DATASET.NAME == name
    assert DATASET_REGISTRY.get(name).__name__ == name
    assert "{}" in template_for(name)


def test_templates_follow_coop_zero_shot_clip():
    assert template_for("OxfordPets").format("pug") == "a photo of a pug, a type of pet."
    assert template_for("EuroSAT").format("Forest") == "a centered satellite photo of Forest."
    assert template_for("SomethingElse") == DEFAULT_TEMPLATE == "a photo of a {}."
