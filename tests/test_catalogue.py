"""What happens when: every bad input and fault of the README's table, run as a user meets it.

Each case runs train.py (or the mask checker) and checks the exit status, that the
message names the file or key at fault, and that no file that existed before changed.
"""
import contextlib
import errno
import hashlib
import json
import os
import pickle
import shutil
import socket
import subprocess

import pytest
import torch
from PIL import Image

from conftest import REPO_ROOT, train_py_command
from fixture_trees import CONFIG_FILES, REPO_CONFIGS, build_tree, write_mask
from fvgpt.check_masks import main as check_masks
from fvgpt.checkpoints import atomic_write
from fvgpt.masks import mask_path_for
from fvgpt.world.generate import SPLIT_FILE


def checksums(*folders):
    sums = {}
    for folder in folders:
        for dirpath, _, names in os.walk(folder):
            for name in names:
                path = os.path.join(dirpath, name)
                with open(path, "rb") as f:
                    sums[path] = hashlib.sha256(f.read()).hexdigest()
    return sums


@contextlib.contextmanager
def nothing_changes(*folders):
    """Assert that every file under ``folders`` is still there with the same content."""
    before = checksums(*folders)
    yield
    after = checksums(*folders)
    assert {p: after.get(p) for p in before} == before


def train_py(*cmd):
    done = subprocess.run(list(cmd), cwd=REPO_ROOT, capture_output=True, text=True)
    return done.returncode, done.stdout + done.stderr


@pytest.fixture
def world_copy(world_root, tmp_path):
    """A private copy of FG-World's images and split file (no masks) that a test may damage."""
    root = tmp_path / "data"
    shutil.copytree(world_root / "fg_world", root / "fg_world",
                    ignore=shutil.ignore_patterns("split_fewshot"))
    for mask_set in os.listdir(world_root):
        if mask_set.startswith("mask"):
            (root / mask_set).mkdir()
            os.symlink(world_root / mask_set / "fg_world", root / mask_set / "fg_world")
    return root


def zero_shot(root, out, small_clip, *opts, flags=()):
    """Zero-shot CLIP on FG-World's base classes: the quickest run that reads every test image."""
    return train_py(*train_py_command(root, out, "ZeroshotCLIP", "DATASET.SUBSAMPLE_CLASSES",
                                      "base", *opts, small_clip=small_clip,
                                      flags=["--eval-only", *flags]))


def write_lock(folder, pid):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.lock").write_text(json.dumps({"pid": pid, "host": socket.gethostname(),
                                                 "token": "another process"}))


@pytest.fixture(scope="module")
def finished_run(world_root, small_clip, tmp_path_factory):
    """A zero-shot run finished in a folder that a killed process had locked (its lock names a
    pid that is gone): the folder, the exit status, the log and the folder's files at the end.
    ``test_rerun_...`` goes on in that folder; ``test_a_left_over_lock_...`` reads the rest."""
    out = tmp_path_factory.mktemp("finished") / "run"
    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid now names no process
    write_lock(out, gone.pid)
    code, log = zero_shot(world_root, out, small_clip)
    return out, code, log, sorted(os.listdir(out))


def test_rerun_with_other_settings_is_refused_then_start_over_keeps_the_old_run(
        world_root, small_clip, finished_run):
    """A finished run's command again: finished, nothing runs; with another setting: refused;
    with --start-over: the old folder is moved aside, whole, and the run starts over."""
    out, code, log, _ = finished_run
    assert code == 0 and (out / "result.json").is_file(), log[-3000:]
    accuracy = json.loads((out / "result.json").read_text())["accuracy"]

    with nothing_changes(out.parent):
        code, log = zero_shot(world_root, out, small_clip)  # same settings: finished
        assert code == 0 and f"{out} is finished (result.json): accuracy {accuracy:.2f}%" in log
        code, log = zero_shot(world_root, out, small_clip, "DATALOADER.TEST.BATCH_SIZE", "7")
        assert code == 1 and "DATALOADER.TEST.BATCH_SIZE: 100 in the folder, 7 now" in log
        assert "Nothing was changed" in log

    old = checksums(out)
    code, log = zero_shot(world_root, out, small_clip, "DATALOADER.TEST.BATCH_SIZE", "7",
                          flags=["--start-over"])
    (moved,) = [p for p in out.parent.iterdir() if p.name.startswith("run.replaced-")]
    assert code == 0 and str(moved) in log
    assert checksums(moved) == {p.replace(str(out), str(moved)): s for p, s in old.items()}


def test_truncated_fvgpt_head_checkpoint_under_eval_only(world_root, small_clip, coop_run,
                                                         tmp_path):
    head = tmp_path / "fvgpt_run" / "fvgpt_head" / "model.pth.tar-1"
    head.parent.mkdir(parents=True)
    torch.save({"state_dict": {"w": torch.zeros(1000)}, "epoch": 1}, head)
    head.write_bytes(head.read_bytes()[:300])
    with nothing_changes(tmp_path, coop_run):
        code, log = train_py(*train_py_command(
            world_root, tmp_path / "eval", "FVGPT_CoOp", "TRAINER.FVGPT.BACKBONE_DIR",
            str(coop_run), "DATASET.SUBSAMPLE_CLASSES", "new", small_clip=small_clip,
            eval_only=tmp_path / "fvgpt_run"))
    assert code == 1 and f"Cannot read FVG-PT head checkpoint {head}: the file is damaged" in log
    assert "PytorchStreamReader" in log.splitlines()[-1] or "damaged" in log.splitlines()[-1]
    assert not (tmp_path / "eval" / "result.json").exists()


def test_truncated_backbone_checkpoint(world_root, small_clip, coop_run, tmp_path):
    backbone = tmp_path / "coop"
    shutil.copytree(coop_run, backbone)
    checkpoint = backbone / "prompt_learner" / "model.pth.tar-2"
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    with nothing_changes(tmp_path):
        code, log = train_py(*train_py_command(
            world_root, tmp_path / "fvgpt", "FVGPT_CoOp", "TRAINER.FVGPT.BACKBONE_DIR",
            str(backbone), "DATASET.SUBSAMPLE_CLASSES", "base", small_clip=small_clip))
    assert code == 1 and f"Cannot read CoOp checkpoint {checkpoint}: the file is damaged" in log
    assert "TRAINER.FVGPT.BACKBONE_DIR" in log.splitlines()[-1]


def test_missing_image(world_copy, small_clip, tmp_path):
    image = world_copy / "fg_world" / "images" / "red_circle" / "test_000.png"
    assert image.is_file()
    image.unlink()
    with nothing_changes(world_copy):
        code, log = zero_shot(world_copy, tmp_path / "out", small_clip)
    assert code == 1 and str(image) in log and "Restore" in log


def test_truncated_image(world_copy, small_clip, tmp_path):
    image = world_copy / "fg_world" / "images" / "red_circle" / "test_000.png"
    image.write_bytes(image.read_bytes()[:60])
    with nothing_changes(world_copy):
        code, log = zero_shot(world_copy, tmp_path / "out", small_clip)
    assert code == 1 and f"Cannot read image {image}: it is damaged" in log.splitlines()[-1]
    assert not (tmp_path / "out" / "result.json").exists()  # a failed run is not finished


def test_few_shot_cache_of_a_copied_folder_reads_the_copy(world_copy, world_root, coop_run,
                                                          small_clip, tmp_path):
    cache = os.path.join("fg_world", "split_fewshot", "shot_1-seed_1.pkl")
    os.makedirs(world_copy / "fg_world" / "split_fewshot")
    shutil.copy(world_root / cache, world_copy / cache)  # its paths point into world_root
    with nothing_changes(world_copy):
        code, log = zero_shot(world_copy, tmp_path / "out", small_clip,
                              "DATASET.NUM_SHOTS", "1")
    assert code == 0, log[-2000:]
    assert f"image paths are read under {world_copy / 'fg_world'}" in log


def test_few_shot_cache_without_the_images_names_the_cache(tmp_path):
    from dassl.data.datasets import Datum
    from datasets.splits import rebase_cached_items

    old = tmp_path / "old" / "fg_world" / "images" / "a.png"
    old.parent.mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(old)
    cache = tmp_path / "new" / "fg_world" / "split_fewshot" / "shot_1-seed_1.pkl"
    cache.parent.mkdir(parents=True)
    cache.write_bytes(pickle.dumps({"train": [Datum(impath=str(old), label=0, classname="a")]}))
    with pytest.raises(FileNotFoundError, match=f"Delete {cache}"):
        rebase_cached_items(pickle.loads(cache.read_bytes())["train"],
                            str(tmp_path / "new" / "fg_world"), str(cache))


def test_world_regeneration_touches_nothing_it_did_not_write(world_copy, small_clip,
                                                              world_root, tmp_path):
    """An invalid split file, a user's own file and an edited mask: refuse, naming them."""
    for mask_set in [p for p in os.listdir(world_copy) if p.startswith("mask")]:
        (world_copy / mask_set / "fg_world").unlink()
        shutil.copytree(world_root / mask_set / "fg_world", world_copy / mask_set / "fg_world")
    split = world_copy / "fg_world" / SPLIT_FILE
    split.write_text("{not json")
    users = world_copy / "fg_world" / "split_fewshot" / "my_notes.txt"
    users.parent.mkdir()
    users.write_text("mine")
    mask = world_copy / "mask" / "fg_world" / "images" / "red_circle" / "train_000.png"
    Image.new("L", (32, 32), 255).save(mask)
    with nothing_changes(world_copy):
        code, log = zero_shot(world_copy, tmp_path / "out", small_clip)
    assert code == 1 and "Not generating FG-World" in log and "Nothing was changed" in log
    assert all(str(p) in log for p in (split, users, mask))


def test_a_kill_while_saving_leaves_the_previous_checkpoint(tmp_path):
    path = tmp_path / "model.pth.tar-1"
    torch.save({"epoch": 1}, path)

    def killed_half_way(tmp):
        with open(tmp, "wb") as f:
            f.write(b"PK\x03\x04 half a checkpoint")
        raise KeyboardInterrupt

    with nothing_changes(tmp_path), pytest.raises(KeyboardInterrupt):
        atomic_write(str(path), killed_half_way)
    assert os.listdir(tmp_path) == [path.name]


@pytest.mark.parametrize("fault", ["missing", "unreadable", "wrong size", "empty"])
def test_mask_faults_through_the_checker(fault, tmp_path, capsys):
    tree = build_tree("OxfordPets", str(tmp_path / "data"))
    image = tree.images[0]
    mask = mask_path_for(image, tree.root)
    if fault == "missing":
        os.remove(mask)
    elif fault == "unreadable":
        with open(mask, "wb") as f:
            f.write(b"not a png")
    elif fault == "wrong size":
        write_mask(mask, size=(5, 40))  # another aspect ratio than any image of the tree
    else:
        write_mask(mask, empty=True)
    with nothing_changes(tmp_path):
        status = check_masks(["--root", tree.root, "--import", "datasets.all", "--dataset-config-file",
                              os.path.join(REPO_CONFIGS, CONFIG_FILES["OxfordPets"])])
    assert status == 1 and mask in capsys.readouterr().out


# ---- a run owns its folder, knows what it is built on, and claims it only once checked

def fvgpt_on(backbone, root, out, small_clip, *opts, **kwargs):
    return train_py(*train_py_command(root, out, "FVGPT_CoOp", "TRAINER.FVGPT.BACKBONE_DIR",
                                      str(backbone), "DATASET.SUBSAMPLE_CLASSES", "base", *opts,
                                      small_clip=small_clip, **kwargs))


def test_a_folder_in_use_by_a_live_process_is_refused(world_root, small_clip, tmp_path):
    """A second run, and a --start-over, in a folder whose lock names a live process (this
    test's own) stop, naming the process, and change nothing."""
    out = tmp_path / "run"
    write_lock(out, os.getpid())  # this test's own process: alive, on this host
    (out / "log.txt").write_text("the other process's log")
    for flags in ((), ("--start-over",)):  # a second process; a --start-over while it runs
        with nothing_changes(tmp_path):
            code, log = zero_shot(world_root, out, small_clip, flags=flags)
        assert code == 1 and f"{out} is in use by process {os.getpid()} on host" in log, log[-2000:]
        assert "Nothing was changed" in log and sorted(os.listdir(tmp_path)) == ["run"]


def test_a_left_over_lock_is_taken_over_and_released_at_exit(finished_run):
    """A lock whose process is gone (``finished_run``'s): the run takes it over, finishes and
    leaves no lock."""
    _, code, log, files = finished_run
    assert code == 0 and "Taking over" in log, log[-2000:]
    assert "run.lock" not in files and "result.json" in files  # released at exit


def test_a_run_whose_folder_was_moved_aside_writes_nothing_more(tmp_path):
    from fvgpt import run_folder
    out = tmp_path / "run"
    run_folder.lock(str(out))
    try:
        run_folder.check_owner(str(out), "a checkpoint")  # still its own
        out.rename(tmp_path / "run.replaced")  # --start-over by another process ...
        write_lock(out, os.getpid() + 1)  # ... which holds the new folder
        with pytest.raises(run_folder.RunFolderError, match=f"no longer owns {out}"):
            run_folder.check_owner(str(out), str(out / "prompt_learner" / "model.pth.tar-2"))
    finally:
        run_folder.unlock(str(out))
    assert (out / "run.lock").exists()  # the new holder's lock is left alone


@pytest.mark.parametrize("case", ["bad choice", "unknown data set", "unknown trainer",
                                  "missing masks", "eval-only without model dir"])
def test_a_run_that_fails_at_start_up_does_not_claim_the_folder(case, world_root, small_clip,
                                                                 coop_run, tmp_path):
    out = tmp_path / "out"
    fvgpt = ("FVGPT_CoOp", "TRAINER.FVGPT.BACKBONE_DIR", str(coop_run),
             "DATASET.SUBSAMPLE_CLASSES", "base")
    cmd, message = {
        "bad choice": ((*fvgpt, "TRAINER.FVGPT.EMPTY_MASK", "drop"), "EMPTY_MASK must be one of"),
        "unknown data set": (("CoOp", "DATASET.NAME", "FGWorlds"), "FGWorlds"),
        "unknown trainer": (("CoOp",), "CoOP"),
        "missing masks": ((*fvgpt, "TRAINER.FVGPT.MASK_ROOT", str(tmp_path / "no_masks")),
                          str(tmp_path / "no_masks")),
        "eval-only without model dir": (("CoOp",), "--eval-only needs --model-dir"),
    }[case]
    flags = {"eval-only without model dir": ["--eval-only"],
             "unknown trainer": ["--trainer", "CoOP"]}.get(case, [])
    with nothing_changes(tmp_path, coop_run):
        code, log = train_py(*train_py_command(world_root, out, *cmd, small_clip=small_clip,
                                               flags=flags))
    assert code == 1 and message in log, log[-2000:]
    assert not (out / "run_config.yaml").exists() and not (out / "run.lock").exists()


def test_a_config_key_typo_gets_the_closest_key(world_root, small_clip, tmp_path):
    code, log = zero_shot(world_root, tmp_path / "out", small_clip, "TRAINER.COOP.NCTX", "4")
    assert code == 1 and "Unknown config key TRAINER.COOP.NCTX in the command line: did you " \
                         "mean TRAINER.COOP.N_CTX or" in log and "Traceback" not in log
    assert not (tmp_path / "out").exists()


def test_resume_from_another_run_folder_is_refused(world_root, small_clip, coop_run, tmp_path):
    with nothing_changes(tmp_path, coop_run):
        code, log = train_py(*train_py_command(world_root, tmp_path / "out", "CoOp",
                                               "OPTIM.LR", "0.001", small_clip=small_clip,
                                               flags=["--resume", str(coop_run)]))
    assert code == 1 and f"--resume {coop_run} is not this run's folder" in log
    assert not (tmp_path / "out").exists()


def test_corrected_command_after_a_failed_start_records_real_shots_then_a_damaged_result(
        world_copy, small_clip, tmp_path):
    out = tmp_path / "out"
    code, log = zero_shot(world_copy, out, small_clip, "DATASET.NAME", "FGWorlds")
    assert code == 1
    code, log = zero_shot(world_copy, out, small_clip, "DATASET.NUM_SHOTS", "64")
    assert code == 0, log[-2000:]
    result = json.loads((out / "result.json").read_text())
    assert result["num_shots"] == 64
    shots = result["built_on"]["training_images"]["shots_per_class"]
    assert 0 < shots["min"] <= shots["max"] < 64  # FG-World has fewer training images
    assert result["built_on"]["clip_weights"]["file"] == small_clip

    (out / "result.json").write_text(json.dumps(result)[:40])  # truncated
    with nothing_changes(tmp_path):
        code, log = zero_shot(world_copy, out, small_clip, "DATASET.NUM_SHOTS", "64")
    assert code == 1 and f"{out / 'result.json'} is unreadable" in log
    assert f"Delete {out / 'result.json'}" in log and "Traceback" not in log


def other_clip(small_clip, tmp_path, **widths):
    """Another small CLIP: other random weights, and the widths given."""
    from clip.model import CLIP
    from conftest import SMALL_CLIP
    torch.manual_seed(1)
    path = tmp_path / f"other_clip{'_'.join(map(str, widths.values()))}.pt"
    torch.save(CLIP(**{**SMALL_CLIP, **widths}).state_dict(), path)
    return str(path)


@pytest.mark.parametrize("widths", [{}, {"transformer_width": 128}], ids=["same width", "other width"])
def test_a_backbone_trained_with_other_clip_weights_is_refused(widths, world_root, small_clip,
                                                               coop_run, tmp_path):
    clip_file = other_clip(small_clip, tmp_path, **widths)
    with nothing_changes(tmp_path, coop_run):
        code, log = fvgpt_on(coop_run, world_root, tmp_path / "fvgpt", clip_file,
                             "MODEL.BACKBONE.NAME", clip_file)
    # the backbone run recorded another MODEL.BACKBONE.NAME: refused before any weights load
    assert code == 1 and "contradicts settings of its backbone run" in log, log[-2000:]
    assert "MODEL.BACKBONE.NAME" in log and small_clip in log and clip_file in log
    assert "Traceback" not in log and not (tmp_path / "fvgpt" / "run_config.yaml").exists()
    if not widths:  # evaluating the backbone itself on other weights: the file hash differs
        with nothing_changes(tmp_path, coop_run):
            code, log = train_py(*train_py_command(
                world_root, tmp_path / "coop_new", "CoOp", "DATASET.SUBSAMPLE_CLASSES", "new",
                "MODEL.BACKBONE.NAME", clip_file, small_clip=small_clip,
                flags=["--eval-only", "--model-dir", str(coop_run), "--load-epoch", "2"]))
        assert code == 1 and "other clip_weights" in log and clip_file in log, log[-2000:]
        assert not (tmp_path / "coop_new" / "result.json").exists()


def test_fvgpt_on_an_unfinished_backbone_then_a_retrained_backbone(world_root, small_clip,
                                                                   coop_run, tmp_path):
    backbone = tmp_path / "coop"
    shutil.copytree(coop_run, backbone)
    (backbone / "result.json").unlink()  # as a killed backbone run
    out = tmp_path / "fvgpt"
    with nothing_changes(tmp_path):
        code, log = fvgpt_on(backbone, world_root, out, small_clip)
    assert code == 1 and f"The backbone run {backbone} is unfinished" in log
    assert "TRAINER.FVGPT.ALLOW_UNFINISHED_BACKBONE" in log and "Traceback" not in log
    assert not (out / "run_config.yaml").exists()

    allow = ("TRAINER.FVGPT.ALLOW_UNFINISHED_BACKBONE", "True")
    code, log = fvgpt_on(backbone, world_root, out, small_clip, *allow)
    assert code == 0, log[-2000:]
    recorded = json.loads((out / "result.json").read_text())["built_on"]["backbone"]
    checkpoint = backbone / "prompt_learner" / "model.pth.tar-2"
    assert recorded["file"] == str(checkpoint) and recorded["finished"] is False

    (out / "result.json").unlink()  # as a kill before the final test ...
    saved = torch.load(checkpoint, weights_only=False)
    saved["state_dict"]["ctx"] += 1.0  # ... and the backbone trained again meanwhile
    torch.save(saved, checkpoint)
    with nothing_changes(tmp_path):
        code, log = fvgpt_on(backbone, world_root, out, small_clip, *allow)
    assert code == 1 and "other backbone than this run uses" in log, log[-2000:]
    assert recorded["sha256"][:12] in log and str(out / "fvgpt_head") in log
    assert not (out / "result.json").exists()


def test_a_full_disk_names_the_file(tmp_path, monkeypatch):
    path = tmp_path / "model.pth.tar-1"
    path.write_bytes(b"the previous checkpoint")

    def disk_full(tmp):
        with open(tmp, "wb") as f:
            f.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    def torch_disk_full(tmp):  # torch's writer says only "file write failed"
        with open(tmp, "wb") as f:
            f.write(b"half")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter "
                           "failed writing file data/0: file write failed")

    for write in (disk_full, torch_disk_full):
        monkeypatch.setattr(shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(1, 1, 0))
        with nothing_changes(tmp_path), pytest.raises(OSError) as err:
            atomic_write(str(path), write)
        assert f"Cannot write {path}: no space left on the device" in str(err.value)
        assert os.listdir(tmp_path) == [path.name]

# ---------------------------------------------------------------------------------------------
# Sweeps and masks: results read where the sweep is, every request kept, masks of any encoding
# either read right or refused with what was found and how to convert it.
# ---------------------------------------------------------------------------------------------

from sweeps.plan import Sweep, expand  # noqa: E402
from sweeps.run import main as sweeps_run  # noqa: E402
from sweeps.tables import main as sweeps_tables  # noqa: E402


def module_cli(capsys, main, *args):
    """Exit code and output of ``python -m <module> ARGS`` run through its ``main``."""
    try:
        status = main([str(a) for a in args])
        code, message = status or 0, ""
    except SystemExit as e:
        code, message = (e.code or 0, "") if isinstance(e.code, (int, type(None))) else (1, str(e.code))
    captured = capsys.readouterr()
    return code, captured.out + captured.err + message


def finished_sweep(output, seeds=(1, 2), accuracy=lambda i, run: 50.0 + i):
    """A base2new sweep of CoOp on DTD whose runs all have a result.json (no training)."""
    sweep = Sweep("base2new", ["CoOp"], ["dtd"], list(seeds), root="/data", output=str(output))
    sweep.save()
    runs = expand(sweep)
    for i, run in enumerate(runs):
        os.makedirs(run.out_dir(sweep), exist_ok=True)
        with open(os.path.join(run.out_dir(sweep), "result.json"), "w") as f:
            json.dump({"accuracy": accuracy(i, run), "d_fg": None}, f)
    return sweep, runs


def table_row(out, method):
    return next(line for line in out.splitlines() if line.startswith(f"| dtd | {method} |"))


def test_tables_of_a_copied_and_of_a_moved_sweep_show_their_own_runs(tmp_path, capsys):
    finished_sweep(tmp_path / "sweep")
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "sweep", copy)
    for result in copy.rglob("result.json"):
        result.write_text(json.dumps({"accuracy": 10.0, "d_fg": None}))
    code, out = module_cli(capsys, sweeps_tables, copy, "--to", tmp_path / "tables")
    assert code == 0 and "| 10.00 ± 0.00 | 10.00 ± 0.00 | 10.00 ± 0.00 |" in table_row(out, "CoOp")
    moved = tmp_path / "moved"
    (tmp_path / "sweep").rename(moved)
    with nothing_changes(moved):
        code, out = module_cli(capsys, sweeps_tables, moved, "--to", tmp_path / "tables")
    assert code == 0 and "missing" not in out.split("Written to")[0]


def test_a_narrower_rerun_never_hides_finished_runs(tmp_path, capsys):
    out_dir = tmp_path / "sweep"
    finished_sweep(out_dir, seeds=(1, 2))
    code, out = module_cli(capsys, sweeps_run, "base2new", "--root", "/data", "--output", out_dir,
                           "--backbones", "CoOp", "--datasets", "dtd", "--seeds", "2")
    assert code == 0 and "4 runs, 4 done" in out  # nothing to run for seed 2
    code, out = module_cli(capsys, sweeps_tables, out_dir, "--to", tmp_path / "tables")
    assert code == 0 and "| 2/2 |" in table_row(out, "CoOp")  # seed 1 still counted


def test_hm_only_from_seeds_with_both_base_and_new(tmp_path, capsys):
    sweep, runs = finished_sweep(tmp_path / "sweep", accuracy=lambda i, run: 40.0 + 20 * run.seed)
    new_seed2 = next(r for r in runs if r.name.startswith("test_new") and r.method == "CoOp"
                     and r.seed == 2)
    os.remove(os.path.join(new_seed2.out_dir(sweep), "result.json"))
    code, out = module_cli(capsys, sweeps_tables, tmp_path / "sweep", "--to", tmp_path / "tables")
    row = table_row(out, "CoOp")  # base of seed 1 (60) and 2 (80); new of seed 1 (60) only
    assert code == 0 and "| 1/2 (seeds 1; left out, base or new only: 2) | 60.00" in row
    assert "| 60.00 ± 0.00 | 60.00 ± 0.00 | 60.00 ± 0.00 |" in row  # not HM(70, 60)


def test_a_truncated_result_json_is_named_with_the_fix(tmp_path, capsys):
    sweep, runs = finished_sweep(tmp_path / "sweep")
    result = os.path.join(runs[0].out_dir(sweep), "result.json")
    with open(result, "w") as f:
        f.write('{"accuracy": 5')
    with nothing_changes(tmp_path / "sweep"):
        code, out = module_cli(capsys, sweeps_tables, tmp_path / "sweep", "--to", tmp_path / "t")
        assert code == 1 and f"{result} is unreadable" in out and f"mv {result} {result}.bad" in out
        code, out = module_cli(capsys, sweeps_run, "base2new", "--root", "/data", "--output",
                               tmp_path / "sweep", "--backbones", "CoOp", "--datasets", "dtd",
                               "--seeds", "1", "2")
        assert code == 1 and "1 result.json unreadable" in out and f"mv {result}" in out
        assert "1 runs not done" in out  # and train.py was not started on it


def test_start_over_passes_through_a_sweep(tmp_path, capsys):
    from sweeps.executors import start_over_folder

    sweep, runs = finished_sweep(tmp_path / "sweep")
    args = ["base2new", "--root", "/data", "--output", tmp_path / "sweep", "--backbones", "CoOp",
            "--datasets", "dtd", "--seeds", "1", "2", "--start-over"]
    with nothing_changes(tmp_path / "sweep"):
        code, out = module_cli(capsys, sweeps_run, *args, "--dry-run")
    assert code == 0 and "8 runs, 8 to run again;" in out and "[to run again (start over)]" in out
    old = checksums(runs[0].out_dir(sweep))
    start_over_folder(sweep, runs[0], echo=print)
    (moved,) = (tmp_path / "sweep" / os.path.dirname(runs[0].name)).glob("seed1.replaced-*")
    assert f"kept in {moved}" in capsys.readouterr().out
    assert checksums(moved) == {p.replace(runs[0].out_dir(sweep), str(moved)): s for p, s in old.items()}


def test_a_sweep_with_other_shots_in_the_same_folder_is_refused(tmp_path, capsys):
    finished_sweep(tmp_path / "sweep")
    with nothing_changes(tmp_path / "sweep"):
        code, out = module_cli(capsys, sweeps_run, "base2new", "--root", "/data", "--output",
                               tmp_path / "sweep", "--backbones", "CoOp", "--datasets", "dtd",
                               "--shots", "4")
    assert code == 1 and "shots (16 there, 4 now)" in out and "another --output" in out


def _recode(mask, kind):
    """Rewrite the fixture's white-on-black ``mask`` in a refused encoding (PNG bytes)."""
    import numpy as np

    fg = np.asarray(Image.open(mask)) > 127
    if kind == "alpha only":  # white everywhere, foreground in alpha: read as all foreground
        image = Image.fromarray(np.dstack([np.full(fg.shape + (3,), 255, np.uint8),
                                           fg.astype(np.uint8) * 255]), "RGBA")
    elif kind == "black with alpha":  # read as empty
        image = Image.fromarray(np.dstack([np.zeros(fg.shape + (3,), np.uint8),
                                           fg.astype(np.uint8) * 255]), "RGBA")
    elif kind == "label map":
        image = Image.fromarray(fg.astype(np.uint8), "L")
    else:  # VOC palette: class 8 (cat) on background 0
        image = Image.fromarray(fg.astype(np.uint8) * 8, "P")
        image.putpalette([0, 0, 0] + [0, 0, 0] * 7 + [64, 0, 0] + [0, 0, 0] * 247)
    image.save(mask, format="PNG")


@pytest.mark.parametrize("kind, found", [
    ("alpha only", "every pixel the colour (255, 255, 255) and the foreground only in the alpha"),
    ("black with alpha", "every pixel the colour (0, 0, 0) and the foreground only in the alpha"),
    ("label map", "label map with values 0 and 1 only"),
    ("palette", "P (palette) with colours (0, 0, 0), (64, 0, 0)")])
def test_masks_in_other_encodings_through_the_checker(kind, found, tmp_path, capsys):
    tree = build_tree("OxfordPets", str(tmp_path / "data"))
    mask = mask_path_for(tree.images[0], tree.root)
    _recode(mask, kind)
    with nothing_changes(tmp_path):
        status = check_masks(["--root", tree.root, "--import", "datasets.all", "--dataset-config-file",
                              os.path.join(REPO_CONFIGS, CONFIG_FILES["OxfordPets"])])
    out = capsys.readouterr().out
    assert status == 1 and f"Foreground mask {mask} is not white foreground on black" in out
    assert found in out and "docs/masks.md" in out


def test_png_masks_for_jpg_images_and_an_exif_rotated_image(tmp_path, capsys):
    tree = build_tree("OxfordPets", str(tmp_path / "data"))
    masks = [mask_path_for(image, tree.root) for image in tree.images]
    for mask in masks:
        os.rename(mask, os.path.splitext(mask)[0] + ".png")
    exif = Image.Exif()
    exif[0x0112] = 8  # shown rotated: the mask below is drawn on the displayed image
    with Image.open(tree.images[0]) as image:
        image.save(tree.images[0], exif=exif)
        size = image.size
    Image.new("L", size[::-1], 255).save(os.path.splitext(masks[0])[0] + ".png")
    args = ["--root", tree.root, "--import", "datasets.all", "--dataset-config-file",
            os.path.join(REPO_CONFIGS, CONFIG_FILES["OxfordPets"])]
    with nothing_changes(tmp_path):
        status = check_masks(args)
        out = capsys.readouterr().out
        assert status == 1 and f"but {os.path.splitext(masks[0])[0]}.png exists" in out
        assert "TRAINER.FVGPT.MASK_EXT .png" in out
        status = check_masks(args + ["--mask-ext", ".png"])
        out = capsys.readouterr().out
    assert status == 1 and "EXIF orientation 8" in out and "Transpose.ROTATE_270" in out
    assert "Masks with another aspect ratio than their image: 1" in out
