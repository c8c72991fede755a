"""FG-World generator and its Dassl reader (fast: one generation shared by the module)."""
import filecmp
import json
import os
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from fvgpt.world import render
from fvgpt.world.classes import (BACKGROUNDS, CHARACTERISTIC_BACKGROUND, CLASS_PAIRS,
                                 CLASSNAMES, COLOURS, NUM_BASE, P_CHARACTERISTIC, SHAPES)
from fvgpt.world.generate import (DATASET_DIR, DEGRADED_MASK_SETS, IMAGES_PER_CLASS, MASK_SETS,
                                  SEGMENTER_FILE, SPLIT_FILE, benchmark_scene, ensure_world,
                                  generate_world, relative_image_path)


@pytest.fixture(scope="module")
def world_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("world_a")
    generate_world(str(root), seed=0)
    return str(root)


def _read(path):
    with Image.open(path) as f:
        return np.asarray(f)


def _image_paths(split, labels, n):
    for label in labels:
        for index in range(n):
            rel = os.path.join(DATASET_DIR, "images", relative_image_path(split, label, index))
            yield label, index, rel


def test_class_order_mixes_colours_and_shapes():
    assert len(CLASSNAMES) == 36 and NUM_BASE == 18
    base, new = CLASS_PAIRS[:NUM_BASE], CLASS_PAIRS[NUM_BASE:]
    for half in (base, new):
        assert Counter(c for c, _ in half) == {c: 3 for c in range(len(COLOURS))}
        assert Counter(s for _, s in half) == {s: 3 for s in range(len(SHAPES))}
    for b in range(len(BACKGROUNDS)):
        owners = [CLASS_PAIRS[y] for y, cb in enumerate(CHARACTERISTIC_BACKGROUND) if cb == b]
        assert len({c for c, _ in owners}) == len({s for _, s in owners}) == 6


def test_same_seed_gives_identical_bytes(world_root, tmp_path):
    marker = os.path.join(world_root, DATASET_DIR, "world.json")
    before = os.stat(marker).st_mtime_ns
    ensure_world(world_root)  # up to date: must not regenerate
    assert os.stat(marker).st_mtime_ns == before
    generate_world(str(tmp_path), seed=0)
    for top in ("",) + MASK_SETS:
        cmp = filecmp.dircmp(os.path.join(world_root, top, DATASET_DIR),
                             os.path.join(tmp_path, top, DATASET_DIR))
        stack = [cmp]
        while stack:
            d = stack.pop()
            assert not d.left_only and not d.right_only
            _, mismatch, errors = filecmp.cmpfiles(d.left, d.right, d.common_files, shallow=False)
            assert not mismatch and not errors
            stack.extend(d.subdirs.values())


def test_different_seed_differs():
    for label in range(0, 36, 5):
        a, _ = render.render(benchmark_scene(0, "test", label, 0)[0])
        b, _ = render.render(benchmark_scene(1, "test", label, 0)[0])
        assert not np.array_equal(a, b)


def test_masks_are_the_drawn_object_pixel_for_pixel(world_root):
    for split, n in (("train", 4), ("test", 4)):
        for label, index, rel in _image_paths(split, range(36), n):
            scene, rng = benchmark_scene(0, split, label, index)
            image = _read(os.path.join(world_root, rel))
            mask = _read(os.path.join(world_root, "mask_exact", rel))
            assert image.shape == (render.IMAGE_SIZE, render.IMAGE_SIZE, 3)
            assert mask.shape == image.shape[:2] and set(np.unique(mask)) == {0, 255}
            on = mask == 255
            np.testing.assert_array_equal(on, render.draw_mask(scene))
            assert scene.sepia  # the benchmark's style: every image is sepia-toned
            object_colour = render.sepia_tone(np.array([[scene.rgb]], dtype=np.uint8))[0, 0]
            assert (image[on] == object_colour).all()
            np.testing.assert_array_equal(image[~on], render.sepia_tone(render.draw_background(scene))[~on])
            degraded = {k: _read(os.path.join(world_root, f"mask_{k}", rel)) == 255
                        for k in DEGRADED_MASK_SETS}
            assert degraded["eroded"].any() and (degraded["eroded"] <= on).all()
            assert (on <= degraded["dilated"]).all() and degraded["dilated"].sum() > on.sum()
            assert degraded["shifted"].sum() == on.sum()
            assert not np.array_equal(degraded["shifted"], on)
            assert not degraded["empty"].any()
            expected = render.degraded_masks(on, rng)
            for k in DEGRADED_MASK_SETS:
                np.testing.assert_array_equal(degraded[k], expected[k])
            _, segmenter = render.segmenter_mask(on, rng)  # drawn after the degraded masks
            np.testing.assert_array_equal(_read(os.path.join(world_root, "mask", rel)) == 255,
                                          segmenter)


def test_segmenter_masks_have_the_documented_outcomes(world_root):
    with open(os.path.join(world_root, DATASET_DIR, SEGMENTER_FILE)) as f:
        outcomes = json.load(f)
    assert len(outcomes) == 36 * sum(IMAGES_PER_CLASS.values())
    counts = Counter(outcomes.values())
    for kind, p in render.SEGMENTER_OUTCOMES.items():
        assert abs(counts[kind] / len(outcomes) - p) < 0.03, (kind, counts)
    for rel, kind in list(outcomes.items())[::40]:
        path = os.path.join(DATASET_DIR, "images", rel)
        exact = _read(os.path.join(world_root, "mask_exact", path)) == 255
        mask = _read(os.path.join(world_root, "mask", path)) == 255
        if kind == "exact":
            np.testing.assert_array_equal(mask, exact)
        elif kind in ("eroded", "partial"):
            assert (mask <= exact).all() and mask.sum() < exact.sum()
        elif kind == "dilated":
            assert (exact <= mask).all() and mask.sum() > exact.sum()
        elif kind == "shifted":
            assert mask.sum() == exact.sum() and not np.array_equal(mask, exact)
        else:
            assert kind == "empty" and not mask.any()


def test_sepia_tone_keeps_black_and_brings_colours_towards_brown():
    colours = np.array([[[220, 40, 40], [40, 80, 220], [0, 0, 0]]], dtype=np.uint8)
    red, blue, black = render.sepia_tone(colours)[0].astype(int)
    assert (black == 0).all()
    assert red[0] > red[1] > red[2] and blue[2] < 220 and blue[0] > 40  # still ordered, less saturated


def test_backgrounds_mislead_in_train_only():
    def characteristic_rate(split):
        hits = [benchmark_scene(0, split, y, i)[0].background == CHARACTERISTIC_BACKGROUND[y]
                for y in range(36) for i in range(IMAGES_PER_CLASS[split])]
        return np.mean(hits)

    assert abs(characteristic_rate("train") - P_CHARACTERISTIC) < 0.05
    assert abs(characteristic_rate("test") - 1 / len(BACKGROUNDS)) < 0.05
    assert abs(characteristic_rate("val") - 1 / len(BACKGROUNDS)) < 0.08


def test_world_json_and_split_file(world_root):
    with open(os.path.join(world_root, DATASET_DIR, "world.json")) as f:
        world = json.load(f)
    assert world["classnames"] == list(CLASSNAMES) and world["seed"] == 0
    with open(os.path.join(world_root, DATASET_DIR, SPLIT_FILE)) as f:
        split = json.load(f)
    for name, n in IMAGES_PER_CLASS.items():
        assert len(split[name]) == 36 * n
        impath, label, classname = split[name][0]
        assert CLASSNAMES[label] == classname
        assert os.path.isfile(os.path.join(world_root, DATASET_DIR, "images", impath))


@pytest.mark.parametrize("subsample", ["all", "base", "new"])
def test_reader_counts_and_base_new_halves(world_root, subsample):
    from dassl.config import get_cfg_default
    from datasets.fg_world import FGWorld

    cfg = get_cfg_default()
    cfg.DATASET.ROOT = world_root
    cfg.DATASET.NUM_SHOTS = 16
    cfg.DATASET.SUBSAMPLE_CLASSES = subsample
    cfg.DATASET.WORLD_SEED = 0
    cfg.SEED = 1
    ds = FGWorld(cfg)
    names = {"all": CLASSNAMES, "base": CLASSNAMES[:NUM_BASE], "new": CLASSNAMES[NUM_BASE:]}
    expected = list(names[subsample])
    assert ds.classnames == expected
    assert Counter(d.label for d in ds.train_x) == {y: 16 for y in range(len(expected))}
    assert Counter(d.label for d in ds.test) == {
        y: IMAGES_PER_CLASS["test"] for y in range(len(expected))}
    assert all(ds.lab2cname[d.label] == d.classname for d in ds.test)
    assert all(os.path.isfile(d.impath) for d in ds.train_x)
