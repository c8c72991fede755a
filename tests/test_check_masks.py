"""``python -m fvgpt.check_masks``: the report and exit status on good and damaged mask trees."""
import os
import subprocess
import sys

import pytest

from fixture_trees import (CONFIG_FILES, REPO_CONFIGS, REPO_ROOT, build_reader, build_tree,
                           reader_cfg, write_mask)
from fvgpt.check_masks import check_training_masks, main
from fvgpt.masks import FIXES, mask_path_for

PETS_CONFIG = os.path.join(REPO_CONFIGS, CONFIG_FILES["OxfordPets"])


@pytest.fixture
def pets(tmp_path):
    """An Oxford Pets tree with a mask for every image, and its training images."""
    tree = build_tree("OxfordPets", str(tmp_path))
    train = build_reader(reader_cfg(tree.root, "OxfordPets")).train_x
    return tree, [item.impath for item in train]


def run_check(capsys, root, *extra):
    status = main(["--root", root, "--dataset-config-file", PETS_CONFIG, *extra])
    return status, capsys.readouterr().out


def test_good_tree_passes_with_area_quartiles(pets, capsys):
    tree, train = pets
    status, out = run_check(capsys, tree.root)

    assert status == 0
    assert f"Masks found: {len(train)}/{len(train)}" in out
    # fixture masks cover 1 to 4 of the 8 rows
    assert "min 0.125" in out and "max 0.500" in out
    assert out.rstrip().splitlines()[-1].startswith("OK")


def test_missing_mask_fails_unless_policy_is_full(pets, capsys):
    tree, train = pets
    missing = mask_path_for(train[0], tree.root)
    os.remove(missing)

    status, out = run_check(capsys, tree.root)
    assert status == 1
    assert "Missing masks: 1" in out and missing in out and FIXES["missing"] in out
    assert f"Masks found: {len(train) - 1}/{len(train)}" in out

    status, out = run_check(capsys, tree.root, "--missing-mask", "full")
    assert status == 0


def test_released_masks_at_512_px_are_resized(pets, capsys):
    tree, train = pets
    for i, impath in enumerate(train[:3]):  # 10x8 images: the released masks are 640x512
        write_mask(mask_path_for(impath, tree.root), i, short_side=512)

    status, out = run_check(capsys, tree.root)
    assert status == 0
    assert "Masks resized to their image (same aspect ratio): 3" in out
    assert "min 0.125" in out and "max 0.500" in out  # the same areas as at the image's size


def test_mask_of_another_aspect_ratio_fails_with_its_own_fix(pets, capsys):
    tree, train = pets
    wrong = mask_path_for(train[1], tree.root)
    write_mask(wrong, size=(8, 10))

    status, out = run_check(capsys, tree.root)
    assert status == 1
    assert "Masks with another aspect ratio than their image: 1" in out
    assert "8x10" in out and "10x8" in out
    assert FIXES["aspect"] in out and FIXES["missing"] not in out and "EMPTY_MASK keep" not in out


def test_unreadable_mask_and_image_fail(pets, capsys):
    tree, train = pets
    with open(mask_path_for(train[2], tree.root), "wb") as f:
        f.write(b"not an image")
    with open(train[3], "wb") as f:
        f.write(b"not an image either")

    status, out = run_check(capsys, tree.root)
    assert status == 1
    assert "Unreadable masks: 1" in out
    assert "Unreadable images: 1" in out and train[3] in out


def test_empty_mask_fails_unless_policy_is_keep(pets, capsys):
    tree, train = pets
    write_mask(mask_path_for(train[4], tree.root), empty=True)

    status, out = run_check(capsys, tree.root)
    assert status == 1
    assert "Empty masks (no pixel above 0.5): 1" in out
    assert "min 0.000" in out

    status, _ = run_check(capsys, tree.root, "--empty-mask", "keep")
    assert status == 0


def test_separate_mask_root_and_few_shot_base_split(pets, tmp_path, capsys):
    tree, train = pets
    mask_root = tmp_path / "elsewhere"
    os.rename(os.path.join(tree.root, "mask"), mask_root)

    status, out = run_check(capsys, tree.root, "--num-shots", "2", "--subsample", "base")
    assert status == 1 and "Missing masks: 4" in out

    status, out = run_check(capsys, tree.root, "--mask-root", str(mask_root),
                            "--num-shots", "2", "--subsample", "base", "--seed", "3")
    assert status == 0 and "Masks found: 4/4" in out


def test_report_lists_each_problem(pets):
    tree, train = pets
    os.remove(mask_path_for(train[0], tree.root))
    data = build_reader(reader_cfg(tree.root, "OxfordPets"))

    report = check_training_masks(data, tree.root)

    assert report.n_images == len(train)
    assert report.missing == [mask_path_for(train[0], tree.root)]
    assert report.problems() == ["1 missing mask(s)"]
    assert report.problems(missing_mask="full") == []
    assert len(report.areas) == len(train) - 1


def test_unreadable_data_set_exits_2(tmp_path, capsys):
    status = main(["--root", str(tmp_path), "--dataset-config-file", PETS_CONFIG])
    assert status == 2
    assert "oxford_pets" in capsys.readouterr().err


def test_runs_as_a_module_from_any_folder(pets, tmp_path):
    """Another repository's readers are registered by --import, as its train.py imports them."""
    tree, _ = pets
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO_ROOT, os.environ.get("PYTHONPATH", "")]))
    command = [sys.executable, "-m", "fvgpt.check_masks", "--root", tree.root,
               "--dataset-config-file", PETS_CONFIG]
    done = subprocess.run(command + ["--import", "datasets.all"], capture_output=True,
                          text=True, cwd=elsewhere, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "OK:" in done.stdout

    unregistered = subprocess.run(command, capture_output=True, text=True, cwd=elsewhere, env=env)
    assert unregistered.returncode == 2
    assert "'OxfordPets' is not registered" in unregistered.stderr and "--import" in unregistered.stderr


def encoded(pixels, mode, alpha=None, palette=None):
    """The white-on-black (1 = foreground) H x W array ``pixels`` in another encoding."""
    import numpy as np
    from PIL import Image

    white = pixels.astype(np.uint8) * 255
    if mode == "L":
        return Image.fromarray(white, "L")
    if mode == "I;16":
        return Image.fromarray(pixels.astype(np.uint16) * 65535)  # mode I;16
    if mode == "RGB":
        return Image.fromarray(np.stack([white] * 3, -1), "RGB")
    if mode == "RGBA":
        a = np.full_like(white, 255) if alpha is None else alpha
        return Image.fromarray(np.stack([white] * 3 + [a], -1), "RGBA")
    raise ValueError(mode)


@pytest.fixture
def box():
    import numpy as np

    pixels = np.zeros((8, 10), dtype=np.uint8)
    pixels[2:5, 3:7] = 1
    return pixels


@pytest.mark.parametrize("mode, found", [("L", "L"), ("RGB", "RGB (grey)"), ("I;16", "16-bit grey (I;16)"),
                                         ("RGBA", "RGBA (opaque)")])
def test_white_on_black_reads_the_same_in_every_accepted_encoding(box, mode, found, tmp_path):
    import numpy as np
    from fvgpt.masks import read_mask

    path = tmp_path / "m.png"
    encoded(box, mode).save(path)
    mask, resized, encoding = read_mask(str(path), "image.jpg", (10, 8), with_encoding=True)
    assert encoding == found and not resized
    assert (np.asarray(mask) == box * 255).all()


def refused(image, tmp_path):
    from fvgpt.masks import MaskEncodingError, read_mask

    path = tmp_path / "m.png"
    image.save(path)
    with pytest.raises(MaskEncodingError) as error:
        read_mask(str(path), "image.jpg", image.size)
    assert str(path) in str(error.value) and "docs/masks.md" in str(error.value)
    return str(error.value)


def test_foreground_only_in_alpha_is_refused_with_the_conversion(box, tmp_path):
    import numpy as np
    from PIL import Image

    for rgb in (255, 0):  # white everywhere (read as all foreground) or black (read as empty)
        colour = np.full(box.shape + (3,), rgb, np.uint8)
        image = Image.fromarray(np.dstack([colour, box.astype(np.uint8) * 255]), "RGBA")
        message = refused(image, tmp_path)
        assert f"every pixel the colour ({rgb}, {rgb}, {rgb})" in message
        assert "getchannel('A')" in message


def test_label_maps_are_refused_with_the_scaling(box, tmp_path):
    from PIL import Image

    message = refused(Image.fromarray(box, "L"), tmp_path)
    assert "label map with values 0 and 1 only" in message and "> 0" in message
    assert "16-bit (I;16) label map" in refused(Image.fromarray(box.astype("uint16")), tmp_path)


def test_a_voc_palette_mask_is_refused_naming_its_colours(box, tmp_path):
    from PIL import Image

    voc = Image.fromarray(box * 15, "P")  # class 15 (person) on background 0
    voc.putpalette([0, 0, 0] + [128, 0, 0] * 14 + [192, 128, 128] + [0, 0, 0] * 240)
    message = refused(voc, tmp_path)
    assert "P (palette) with colours (0, 0, 0), (192, 128, 128)" in message


def test_checker_reports_each_encoding_and_the_refused_ones(pets, capsys):
    import numpy as np
    from PIL import Image

    tree, train = pets
    first = mask_path_for(train[0], tree.root)
    pixels = (np.asarray(Image.open(first)) > 127).astype(np.uint8)
    encoded(pixels, "RGB").save(first, format="PNG")  # the fixture's masks are named .jpg
    second = mask_path_for(train[1], tree.root)
    Image.fromarray((np.asarray(Image.open(second)) > 127).astype(np.uint8), "L").save(
        second, format="PNG")
    status, out = run_check(capsys, tree.root)
    assert status == 1
    assert f"Mask encodings read: L {len(train) - 2}, RGB (grey) 1" in out
    assert "Masks not white foreground on black: 1" in out and second in out


def test_a_png_mask_for_a_jpg_image_is_named_and_read_with_mask_ext(pets, capsys):
    tree, train = pets
    mask = mask_path_for(train[0], tree.root)
    png = os.path.splitext(mask)[0] + ".alt.png"
    assert mask.endswith(".jpg")
    for impath in train:
        path = mask_path_for(impath, tree.root)
        os.rename(path, os.path.splitext(path)[0] + ".png")
    status, out = run_check(capsys, tree.root)
    assert status == 1 and f"{mask} for image {train[0]}, but {os.path.splitext(mask)[0]}.png exists" in out
    assert "TRAINER.FVGPT.MASK_EXT .png" in out and png not in out
    status, out = run_check(capsys, tree.root, "--mask-ext", ".png")
    assert status == 0, out


def test_an_exif_rotated_image_is_named_in_the_aspect_error(tmp_path):
    from PIL import Image
    from fvgpt.masks import MaskAspectError, read_mask

    image = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 10x8, shown rotated by 90 degrees: 8x10
    Image.new("RGB", (10, 8)).save(image, exif=exif)
    mask = tmp_path / "mask.png"
    Image.new("L", (8, 10), 255).save(mask)  # drawn on the displayed image
    with pytest.raises(MaskAspectError, match="EXIF orientation 6.*Transpose.ROTATE_90"):
        read_mask(str(mask), str(image), (10, 8))
