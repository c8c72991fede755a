"""Same shots as the backbone: a run's record of its training images, and FVG-PT's check."""
import os

import pytest

from fixture_trees import build_reader, build_tree, reader_cfg
from fvgpt.training_images import (RECORD_FILE, check_same_training_images, record_training_images,
                                   training_images)


@pytest.fixture
def pets(tmp_path):
    return build_tree("OxfordPets", str(tmp_path / "data"))


def sample(tree, seed):
    cfg = reader_cfg(tree.root, "OxfordPets", seed=seed, num_shots=2, subsample="base")
    return cfg, build_reader(cfg)


def test_a_backbone_run_records_its_images_and_cache(pets, tmp_path, capsys):
    cfg, data = sample(pets, 1)
    record = record_training_images(cfg, data, str(tmp_path / "coop"))

    cache = os.path.join(pets.root, "oxford_pets", "split_fewshot", "shot_2-seed_1.pkl")
    assert os.path.isfile(tmp_path / "coop" / RECORD_FILE)
    assert record["fewshot_cache"] == cache and cache in capsys.readouterr().out
    assert record["n_images"] == len(data.train_x) == 4
    assert record["images"][0][0].startswith("oxford_pets/images/")  # relative to DATASET.ROOT


def test_fvgpt_accepts_the_same_shots_and_refuses_others(pets, tmp_path, capsys):
    cfg, data = sample(pets, 1)
    record_training_images(cfg, data, str(tmp_path / "coop"))

    assert check_same_training_images(training_images(*sample(pets, 1)), str(tmp_path / "coop"))
    assert "Same training images as the backbone run (4 images" in capsys.readouterr().out
    with pytest.raises(ValueError) as err:
        check_same_training_images(training_images(*sample(pets, 2)), str(tmp_path / "coop"))
    message = str(err.value)
    assert "seed 1" in message and "seed 2" in message and "shot_2-seed_2.pkl" in message
    assert "split_fewshot/" in message


def test_a_backbone_without_a_record_is_named_not_ignored(pets, tmp_path, capsys):
    assert check_same_training_images(training_images(*sample(pets, 1)), str(tmp_path)) is None
    out = capsys.readouterr().out
    assert f"has no {RECORD_FILE}" in out and "shot_2-seed_1.pkl" in out
