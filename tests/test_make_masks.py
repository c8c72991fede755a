"""python -m fvgpt.make_masks on a small FG-World: every method writes a complete mask tree that
check_masks accepts, a killed run resumes, masks it did not write are never replaced."""
import json
import os
import shlex
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from conftest import REPO_ROOT
from fvgpt.check_masks import main as check_masks
from fvgpt.make_masks.__main__ import main as make_masks_cli
from fvgpt.make_masks.make import make_masks
from fvgpt.make_masks.methods import GrabCut
from fvgpt.make_masks.prompts import default_prompt
from fvgpt.make_masks.records import MaskRecord

# A reader of a few FG-World images (4 classes, 2 images per class and split), registered in
# Dassl as a drop-in user's would be, and imported by make_masks / check_masks with --import.
SMALL_WORLD_READER = '''
import json, os
from dassl.data.datasets import DATASET_REGISTRY, DatasetBase, Datum

@DATASET_REGISTRY.register()
class SmallFGWorld(DatasetBase):
    def __init__(self, cfg):
        folder = os.path.join(cfg.DATASET.ROOT, "fg_world")
        with open(os.path.join(folder, "split_zhou_FGWorld.json")) as f:
            split = json.load(f)
        def few(entries):
            kept, seen = [], {}
            for rel, label, name in entries:
                seen[label] = seen.get(label, 0) + 1
                if label < 4 and seen[label] <= 2:
                    kept.append(Datum(os.path.join(folder, "images", rel), label, classname=name))
            return kept
        super().__init__(train_x=few(split["train"]), val=few(split["val"]), test=few(split["test"]))
'''

# A stand-in for SEEM/rembg: foreground = pixels far from the corner colour, written at half size
# (same aspect ratio); logs the prompts it got. Per image: IMAGE MASK PROMPT; per batch: --list F.
FAKE_SEGMENTER = '''
import sys, time
import numpy as np
from PIL import Image
def segment(image, mask, prompt):
    rgb = np.asarray(Image.open(image).convert("RGB")).astype(int)
    fg = np.abs(rgb - rgb[0, 0]).sum(-1) > 60
    Image.fromarray(fg.astype(np.uint8) * 255).resize((fg.shape[1] // 2, fg.shape[0] // 2)).save(mask, format="PNG")
    with open(LOG, "a") as f:
        f.write(prompt + "\\n")
    time.sleep(DELAY)
if sys.argv[1] == "--list":
    for line in open(sys.argv[2], encoding="utf-8"):
        image, mask, prompt, classname = line.rstrip("\\n").split("\\t")
        segment(image, mask, prompt)
else:
    segment(*sys.argv[1:4])
'''


def entry_point(image_paths, prompts):
    """An --entry-point segmenter: the brighter half of the pixels, as a 0/1 array."""
    masks = []
    for path in image_paths:
        grey = np.asarray(Image.open(path).convert("L")).astype(float)
        masks.append((grey > np.median(grey)).astype(np.uint8))
    return masks


@pytest.fixture(scope="module")
def small_world(world_root, tmp_path_factory):
    """(ROOT, dataset config, --import module, fake segmenter path, its prompt log)."""
    folder = tmp_path_factory.mktemp("small_world")
    (folder / "small_world_reader.py").write_text(SMALL_WORLD_READER)
    config = folder / "small_world.yaml"
    config.write_text('DATASET:\n  NAME: "SmallFGWorld"\n')
    sys.path.insert(0, str(folder))
    log = folder / "prompts.log"
    fake = folder / "fake_segmenter.py"
    fake.write_text(f"LOG = {str(log)!r}\nDELAY = float({os.environ.get('DELAY', '0')!r})\n"
                    + FAKE_SEGMENTER)
    return str(world_root), str(config), "small_world_reader", str(fake), log


def run(small_world, mask_root, *args):
    root, config, module, _, _ = small_world
    return make_masks_cli(["--root", root, "--dataset-config-file", config, "--import", module,
                           "--mask-root", str(mask_root), "--no-progress", *args])


def image_list(root):
    with open(os.path.join(root, "fg_world", "split_zhou_FGWorld.json")) as f:
        split = json.load(f)
    return [os.path.join("fg_world", "images", rel) for entries in split.values()
            for rel, label, _ in entries if label < 4]


def expected_masks(root):
    """Relative paths of the 24 images SmallFGWorld lists (2 per class, split)."""
    counts, rels = {}, []
    for rel in image_list(root):
        key = (os.path.dirname(rel), os.path.basename(rel).split("_")[0])
        counts[key] = counts.get(key, 0) + 1
        if counts[key] <= 2:
            rels.append(rel)
    return rels


def fake_command(small_world, per_batch=False):
    fake = shlex.quote(small_world[3])
    python = shlex.quote(sys.executable)
    return f"{python} {fake} --list {{list}}" if per_batch else f"{python} {fake} {{image}} {{mask}} {{prompt}}"


METHODS = {
    "grabcut": ["--method", "grabcut"],
    "clip": ["--method", "clip", "--clip-model", "TinyCLIP-World"],
    "command per image": ["--method", "command"],
    "command per batch": ["--method", "command", "--batch-size", "5"],
    "entry point": ["--method", "command", "--entry-point", "test_make_masks:entry_point"],
}


@pytest.mark.parametrize("method", list(METHODS))
def test_each_method_writes_a_complete_mask_tree_that_check_masks_accepts(small_world, tmp_path, method):
    args = list(METHODS[method])
    if method.startswith("command"):
        args += ["--command", fake_command(small_world, per_batch="batch" in method)]
    assert run(small_world, tmp_path, *args) == 0
    root = small_world[0]
    rels = expected_masks(root)
    assert len(rels) == 24
    written = [os.path.relpath(os.path.join(d, n), tmp_path) for d, _, names in os.walk(tmp_path)
               for n in names if n.endswith(".png")]
    assert sorted(written) == sorted(rels)
    for rel in rels:
        with Image.open(tmp_path / rel) as mask, Image.open(os.path.join(root, rel)) as image:
            assert (mask.format, mask.mode, mask.size) == ("PNG", "L", image.size)
            assert set(np.unique(np.asarray(mask))) <= {0, 255}
    report = (tmp_path / "make_masks" / "SmallFGWorld.report.md").read_text()
    assert "| red circle | 6 | 6 |" in report and "Written this run: 24" in report
    assert check_masks(["--root", root, "--dataset-config-file", small_world[1], "--import",
                        small_world[2], "--mask-root", str(tmp_path), "--empty-mask", "keep"]) == 0
    if method == "command per image":  # the segmenter got FG-World's default prompt
        assert "a photo of a red circle." in small_world[4].read_text().splitlines()


def test_clip_reads_a_clip_checkpoint_file(small_world, small_clip, tmp_path):
    assert run(small_world, tmp_path, "--method", "clip", "--clip-model", small_clip) == 0
    record = MaskRecord(str(tmp_path), "SmallFGWorld")
    assert record.settings[-1]["options"]["model"] == small_clip
    assert all(record.owner_settings(str(tmp_path / rel)) for rel in expected_masks(small_world[0]))


def test_an_unregistered_data_set_is_named_with_the_fix(world_root, tmp_path, capsys):
    config = tmp_path / "unknown.yaml"
    config.write_text('DATASET:\n  NAME: "NotRegistered"\n')
    assert make_masks_cli(["--root", str(world_root), "--dataset-config-file", str(config),
                           "--mask-root", str(tmp_path / "masks")]) == 2
    assert "'NotRegistered' is not registered" in capsys.readouterr().err
    assert not (tmp_path / "masks").exists()


def test_default_prompts_are_the_papers_table_9():
    assert default_prompt("OxfordPets") == "The pet in the middle."
    assert default_prompt("Caltech101") == "A huge {}."
    assert default_prompt("MyOwnData") == "a photo of a {}."


def test_a_killed_run_resumes_and_ends_with_the_same_masks(small_world, tmp_path, capsys):
    root, config, module, fake, _ = small_world
    slow = tmp_path / "slow_segmenter.py"
    slow.write_text(open(fake).read().replace("DELAY = float('0')", "DELAY = 0.2"))
    command = f"{shlex.quote(sys.executable)} {shlex.quote(str(slow))} --list {{list}}"
    cmd = [sys.executable, "-m", "fvgpt.make_masks", "--root", root, "--dataset-config-file",
           config, "--import", module, "--mask-root", str(tmp_path / "masks"), "--method",
           "command", "--command", command, "--batch-size", "2"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.dirname(config), REPO_ROOT])}
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    record = tmp_path / "masks" / "make_masks" / "SmallFGWorld.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not record.exists() or len(record.read_text().splitlines()) < 5):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with open(record, "a") as f:
        f.write('{"mask": "fg_world/ima')  # a record line cut by the kill
    before = len([line for line in record.read_text().splitlines() if '"sha256"' in line])
    assert 4 <= before < 24
    capsys.readouterr()
    assert run(small_world, tmp_path / "masks", *cmd[cmd.index("--method"):]) == 0  # the same command
    printed = capsys.readouterr().out
    assert f"made before {before}" in printed or f"made before {before - 1}" in printed
    # the same masks as an uninterrupted run (one batch)
    assert run(small_world, tmp_path / "once", "--method", "command", "--command", command) == 0
    for rel in expected_masks(root):
        assert (tmp_path / "masks" / rel).read_bytes() == (tmp_path / "once" / rel).read_bytes()


class Interrupted(Exception):
    pass


class StopsAfter(GrabCut):
    """GrabCut interrupted (as by Ctrl-C) after ``n`` images."""

    def __init__(self, n):
        super().__init__()
        self.left = n

    def segment(self, requests):
        if self.left == 0:
            raise Interrupted
        self.left -= len(requests)
        return super().segment(requests)


def test_an_interrupted_run_resumes_where_it_stopped(small_world, tmp_path):
    root = small_world[0]
    images = [(os.path.join(root, rel), rel.split(os.sep)[2]) for rel in expected_masks(root)]
    with pytest.raises(Interrupted):
        make_masks(images, root, str(tmp_path), StopsAfter(10), "", "Small", show_progress=False)
    summary = make_masks(images, root, str(tmp_path), GrabCut(), "", "Small", show_progress=False)
    assert (summary.made_before, summary.written) == (10, 14)


def test_masks_it_did_not_write_are_never_replaced(small_world, tmp_path):
    root = small_world[0]
    rels = expected_masks(root)
    foreign = tmp_path / rels[0]
    foreign.parent.mkdir(parents=True)
    Image.new("L", (32, 32), 255).save(foreign, format="PNG")
    foreign_bytes = foreign.read_bytes()
    assert run(small_world, tmp_path, "--method", "grabcut") == 0
    assert foreign.read_bytes() == foreign_bytes
    edited = tmp_path / rels[1]  # written by make_masks, then edited by hand
    Image.new("L", (32, 32), 0).save(edited, format="PNG")
    edited_bytes, ours = edited.read_bytes(), (tmp_path / rels[2]).read_bytes()

    # other settings: refused without --replace, nothing changed
    assert run(small_world, tmp_path, "--method", "grabcut", "--grabcut-margin", "0.2") == 2
    assert (tmp_path / rels[2]).read_bytes() == ours
    # --replace rewrites make_masks' own masks only
    assert run(small_world, tmp_path, "--method", "grabcut", "--grabcut-margin", "0.2",
               "--replace") == 0
    assert foreign.read_bytes() == foreign_bytes and edited.read_bytes() == edited_bytes
    assert (tmp_path / rels[2]).read_bytes() != ours
    report = (tmp_path / "make_masks" / "SmallFGWorld.report.md").read_text()
    assert "Written this run: 22" in report and "not written by make_masks: 2" in report
    record = MaskRecord(str(tmp_path), "SmallFGWorld")
    assert record.owner_settings(str(foreign)) is None and record.owner_settings(str(edited)) is None
    assert record.owner_settings(str(tmp_path / rels[2]))["options"]["margin"] == 0.2
