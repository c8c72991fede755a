"""Reading masks as the authors release them, and forming the foreground view."""
import numpy as np
import pytest
import torch
from PIL import Image

from dassl.config import get_cfg_default

import fvgpt
from fvgpt.masked_data import JointTransform
from fvgpt.masks import (FIXES, MaskAspectError, MissingMaskError, UnreadableMaskError,
                         empty_mask_error, read_mask, same_aspect_ratio)


@pytest.mark.parametrize("image, mask, same", [
    ((10, 8), (640, 512), True),      # the released masks: 512 px on the short side
    ((1000, 667), (768, 512), True),  # 1000 * 512 / 667 = 767.6, rounded
    ((333, 500), (512, 769), True),   # 500 * 512 / 333 = 768.8, rounded
    ((1000, 667), (770, 512), False),  # two pixels off
    ((10, 8), (8, 10), False),        # rotated
])
def test_aspect_ratio_within_one_pixel_of_rounding(image, mask, same):
    assert same_aspect_ratio(mask, image) is same


def test_a_released_mask_is_resized_to_its_image_with_nearest(tmp_path):
    pixels = np.zeros((8, 10), dtype=np.uint8)
    pixels[2:5, 3:9] = 255
    path = str(tmp_path / "m.png")
    Image.fromarray(pixels).resize((640, 512), Image.NEAREST).save(path)

    mask, resized = read_mask(path, "image.jpg", (10, 8))

    assert resized and mask.size == (10, 8)
    assert np.array_equal(np.asarray(mask), pixels)


def test_each_mask_failure_names_its_own_fix(tmp_path):
    with pytest.raises(MissingMaskError) as missing:
        read_mask(str(tmp_path / "none.png"), "image.jpg", (10, 8))
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(UnreadableMaskError) as unreadable:
        read_mask(str(tmp_path / "bad.png"), "image.jpg", (10, 8))
    Image.new("L", (8, 10)).save(tmp_path / "rotated.png")
    with pytest.raises(MaskAspectError) as aspect:
        read_mask(str(tmp_path / "rotated.png"), "image.jpg", (10, 8))
    empty = empty_mask_error(str(tmp_path / "empty.png"), 0.5)

    assert "8x10" in str(aspect.value) and "10x8" in str(aspect.value)
    for error, kind in ((missing.value, "missing"), (unreadable.value, "unreadable"),
                        (aspect.value, "aspect"), (empty, "empty")):
        assert FIXES[kind] in str(error)
        assert ("MISSING_MASK" in str(error)) == (kind == "missing")
        assert ("EMPTY_MASK" in str(error)) == (kind == "empty")


@pytest.mark.parametrize("fill", ["mean", "black"])
def test_foreground_fill(fill):
    cfg = fvgpt.add_config(get_cfg_default())
    cfg.INPUT.SIZE = (4, 4)
    cfg.INPUT.TRANSFORMS = ["normalize"]
    transform = JointTransform(cfg, is_train=True)
    image = Image.new("RGB", (4, 4), (200, 100, 50))
    mask = Image.fromarray(np.array([[255] * 4] * 2 + [[0] * 4] * 2, dtype=np.uint8))

    full, fg, binary = transform(image, mask, 0.5, fill)

    mean = torch.tensor(cfg.INPUT.PIXEL_MEAN).view(3, 1, 1)
    std = torch.tensor(cfg.INPUT.PIXEL_STD).view(3, 1, 1)
    assert torch.equal(binary[0, :2], torch.ones(2, 4)) and torch.equal(binary[0, 2:], torch.zeros(2, 4))
    assert torch.allclose(fg[:, :2], full[:, :2])  # the foreground is the image
    background = torch.zeros(3, 2, 4) if fill == "mean" else (-mean / std).expand(3, 2, 4)
    assert torch.allclose(fg[:, 2:], background)  # mean: CLIP's mean colour; black: zero pixels
