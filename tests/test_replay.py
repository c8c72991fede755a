"""Exact replay (TRAINER.FVGPT.REPLAY_CACHE): a variant trained on the backbone outputs that
another variant recorded ends with the same weights and numbers, bit for bit, as the variant
run uncached; also when killed with SIGKILL mid-replay and resumed, and after a damaged entry
was rebuilt. CoOp and MMRL backbones, FG-World, 2 epochs of 5 steps."""
import json
import os
import shutil

import numpy as np
import pytest
import torch

from conftest import train_py_command
from dassl.config import get_cfg_default
from fvgpt.config import add_project_config
from fvgpt.replay import (EntryWriter, EpochReplay, ReplayCache, ReplayEntryError, config_key,
                          image_stamps, rng_state)
from test_resume import batch_losses, final_state, run, run_and_kill

EPOCHS = ["OPTIM.MAX_EPOCH", "2", "DATASET.SUBSAMPLE_CLASSES", "base"]
# A variant of the head only (as in scripts/ablation.py): it may replay the full model's recording.
VARIANT = ["TRAINER.FVGPT.ABLATION.FIXED_R", "0.5", "TRAINER.FVGPT.TAU", "4.0"]
MMRL = ["TRAINER.MMRL.REP_LAYERS", "[1]", "TRAINER.MMRL.REP_DIM", "32"]


def cached(cache):
    return ["TRAINER.FVGPT.REPLAY_CACHE", str(cache)]


def assert_same_run(out, reference, model="fvgpt_head"):
    expected, got = final_state(reference, model), final_state(out, model)
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    result = [json.loads((p / "result.json").read_text()) for p in (out, reference)]
    assert result[0] == result[1]
    resume = [torch.load(p / model / "resume.pth.tar", weights_only=False) for p in (out, reference)]
    assert torch.equal(resume[0]["rng_state"]["torch"], resume[1]["rng_state"]["torch"])
    assert resume[0]["rng_state"]["python"] == resume[1]["rng_state"]["python"]


def recorded_and_replayed_variant(tmp, command, env=None):
    """The full model recorded into a cache, the variant uncached, the variant replayed."""
    cache = tmp / "cache"
    logs = {"record": run(command(tmp / "full", *cached(cache)), env),
            "uncached": run(command(tmp / "variant_uncached", *VARIANT), env),
            "replayed": run(command(tmp / "variant_replayed", *VARIANT, *cached(cache)), env)}
    return cache, logs


@pytest.fixture(scope="module")
def coop(world_root, small_clip, coop_run, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("replay_coop")

    def command(out, *opts):
        return train_py_command(world_root, out, "FVGPT_CoOp", *EPOCHS,
                                "TRAINER.FVGPT.BACKBONE_DIR", str(coop_run),
                                "TEST.FOREGROUND_SHIFT_INDEX", "True", *opts, small_clip=small_clip)
    cache, logs = recorded_and_replayed_variant(tmp, command)
    return tmp, cache, logs, command


@pytest.fixture(scope="module")
def mmrl(world_root, small_clip, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("replay_mmrl")
    run(train_py_command(world_root, tmp / "mmrl", "MMRL", "DATASET.SUBSAMPLE_CLASSES", "base",
                         *MMRL, small_clip=small_clip))

    def command(out, *opts):
        return train_py_command(world_root, out, "FVGPT_MMRL", *EPOCHS, *MMRL,
                                "TRAINER.FVGPT.BACKBONE_DIR", str(tmp / "mmrl"), *opts,
                                small_clip=small_clip)
    return tmp, *recorded_and_replayed_variant(tmp, command)


def assert_replayed_exactly(tmp, logs):
    assert "Replay cache: recorded epoch 1" in logs["record"]
    assert "Replay cache: recorded epoch 2" in logs["record"]
    assert "Replay cache: replaying epoch 1" in logs["replayed"]
    assert "Replay cache: replaying epoch 2" in logs["replayed"]
    assert "Replay cache: recorded" not in logs["replayed"]
    # the final test reads no image either (its D_fg passes: test_coop_variant_...)
    assert "Replay cache: recorded the evaluation pass test-fdc" in logs["record"]
    assert "Replay cache: replaying the evaluation pass test-fdc" in logs["replayed"]
    for epoch in (1, 2):
        assert batch_losses(logs["replayed"], epoch) == batch_losses(logs["uncached"], epoch) != []
    assert_same_run(tmp / "variant_replayed", tmp / "variant_uncached")


def test_coop_variant_replayed_is_bit_identical_to_uncached(coop):
    tmp, _, logs, _ = coop
    assert_replayed_exactly(tmp, logs)
    assert "replaying the evaluation pass foreground_shift-fdc" in logs["replayed"]  # D_fg


def test_coop_variant_replayed_under_real_dassl(world_root, small_clip, coop_run, tmp_path,
                                               real_dassl_env):
    """The same hook works on real Dassl's TrainerX loop."""
    def command(out, *opts):
        return train_py_command(world_root, out, "FVGPT_CoOp", *EPOCHS,
                                "TRAINER.FVGPT.BACKBONE_DIR", str(coop_run), *opts,
                                small_clip=small_clip)
    _, logs = recorded_and_replayed_variant(tmp_path, command, real_dassl_env)
    assert "Dassl engine: real" in logs["replayed"]
    assert_replayed_exactly(tmp_path, logs)


def test_mmrl_variant_replayed_is_bit_identical_to_uncached(mmrl):
    tmp, _, logs = mmrl
    assert_replayed_exactly(tmp, logs)


def test_killed_replay_with_a_damaged_entry_resumes_exactly(coop):
    """Epoch 1's entry is damaged (rebuilt: recorded again), the run is killed while replaying
    epoch 2 and started again: it resumes, replays epoch 2 and matches the uncached variant."""
    tmp, cache, _, command = coop
    damaged = tmp / "damaged_cache"
    shutil.copytree(cache, damaged)
    [logits] = damaged.glob("*/epoch0-*/logits.bin")
    data = bytearray(logits.read_bytes())
    data[5] ^= 1
    logits.write_bytes(bytes(data))

    out = tmp / "variant_killed"
    killed = run_and_kill(command(out, *VARIANT, *cached(damaged)))
    assert "unusable" in killed and "does not match its SHA-256" in killed
    assert "Replay cache: recorded epoch 1" in killed and "replaying epoch 2" in killed
    resumed = run(command(out, *VARIANT, *cached(damaged)))
    assert f"Resumed fvgpt_head from {out / 'fvgpt_head' / 'resume.pth.tar'} (epoch 1)" in resumed
    assert "Replay cache: replaying epoch 2" in resumed
    assert_same_run(out, tmp / "variant_uncached")


def test_head_drawing_other_numbers_at_init_records_its_own_epochs(coop):
    """Without the text adapter the head draws fewer numbers at initialisation, so the random
    crops differ from the recorded ones: the run must not replay them."""
    tmp, cache, _, command = coop
    log = run(command(tmp / "no_text_adapter", "TRAINER.FVGPT.ABLATION.TEXT_ADAPTER", "False",
                      *cached(cache)))
    assert "Replay cache: recorded epoch 1" in log and "replaying" not in log


def project_cfg(*opts):
    cfg = get_cfg_default()
    add_project_config(cfg)
    cfg.merge_from_list(list(opts))
    return cfg


def test_key_covers_views_and_outputs_not_the_heads_settings():
    base = config_key(project_cfg())
    for opts in (["TRAINER.FVGPT.TAU", 4.0], ["TRAINER.FVGPT.ABLATION.FIXED_R", 0.5],
                 ["OPTIM.LR", 0.1], ["TRAINER.FVGPT.REPLAY_CACHE", "elsewhere"]):
        assert config_key(project_cfg(*opts)) == base, opts
    for opts in (["TRAINER.FVGPT.FG_FILL", "black"], ["INPUT.RRCROP_SCALE", (0.2, 1.0)],
                 ["DATALOADER.TRAIN_X.BATCH_SIZE", 8], ["OPTIM.MAX_EPOCH", 3], ["SEED", 2],
                 ["TRAINER.FVGPT.MASK_THRESHOLD", 0.3], ["TRAINER.COOP.N_CTX", 8]):
        assert config_key(project_cfg(*opts)) != base, opts


def record_one_step(folder, budget=2 ** 20):
    recording = EntryWriter(str(folder / "epoch0-x"), budget)
    arrays = {name: np.zeros((2, 3), np.float32) for name in ("fdc", "logits", "logits_fg",
                                                              "logits_clip")}
    arrays.update(area=np.ones(2, np.float32), label=np.arange(2), index=np.arange(2),
                  substituted=np.zeros(2, bool))
    recording.add(arrays, rng_state())
    return recording


def test_partial_entry_is_not_read(tmp_path):
    recording = record_one_step(tmp_path)  # killed before finish: only the .partial folder
    assert not os.path.exists(recording.final)
    recording.finish(rng_state(), {}, "classes", "x")
    os.remove(os.path.join(recording.final, "manifest.json"))
    with pytest.raises(ReplayEntryError, match="partial"):
        EpochReplay(recording.final, "x", "classes", [])


def test_recording_stops_at_the_disk_limit(tmp_path, capsys):
    with pytest.raises(ReplayEntryError, match="REPLAY_MAX_BYTES"):
        record_one_step(tmp_path, budget=100)
    cache = ReplayCache(str(tmp_path), max_bytes=1, key={"k": 1})
    assert cache._start_recording(str(tmp_path / "entry"), "epoch 1") is None
    assert "runs uncached and is not recorded" in capsys.readouterr().out


def test_replayed_step_hands_the_head_the_recorded_random_state(tmp_path):
    """Whatever the head draws (dropout, say) it draws from the recording run's numbers."""
    torch.manual_seed(3)
    recording = record_one_step(tmp_path)  # records the state the head starts the step from
    expected = torch.rand(4)
    recording.finish(rng_state(), {}, "classes", "x")
    torch.manual_seed(4)
    replay = EpochReplay(recording.final, "x", "classes", [type("Item", (), {"impath": "a"})] * 2)
    cache = ReplayCache()
    cache.replay_step_states = replay.step_states
    [batch] = list(replay)
    inputs = cache.head_inputs(batch, compute=None)
    assert torch.equal(torch.rand(4), expected)
    assert inputs["mask"].shape == (2, 1) and batch["impath"] == ["a", "a"]


def test_a_changed_mask_changes_the_stamps_of_its_image(tmp_path):
    """A test pass's entry is named by image_stamps: regenerated masks (here under MASK_EXT
    .png) are a new entry, never the old outputs."""
    image, mask = tmp_path / "cls" / "a.jpg", tmp_path / "mask" / "cls" / "a.png"
    for path in (image, mask):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    cfg = project_cfg("DATASET.ROOT", str(tmp_path), "TRAINER.FVGPT.MASK_EXT", ".png")
    item = type("Item", (), {"impath": str(image), "label": 3})
    before = image_stamps([item], cfg)
    assert before[0][3] is not None  # the .png mask was found
    mask.write_bytes(b"xy")
    assert image_stamps([item], cfg) != before
