"""Exact resume: a train.py run killed with SIGKILL mid-epoch and started again with the same
command ends with the same weights and numbers, bit for bit, as a run never interrupted."""
import json
import os
import re
import subprocess

import torch

from conftest import REPO_ROOT, train_py_command

EPOCHS = ["OPTIM.MAX_EPOCH", "2", "DATASET.SUBSAMPLE_CLASSES", "base"]
KILL_AT = re.compile(r"epoch \[2/2\] batch \[3/")  # 5 batches per epoch (18 images, batch 4)


def run(cmd, env=None):
    done = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, env=env)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return done.stdout + done.stderr


def run_and_kill(cmd, env=None):
    """Start ``cmd`` and SIGKILL it once it prints a line matching KILL_AT; returns the output."""
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if KILL_AT.search(line):
            proc.kill()
            break
    proc.wait()
    assert proc.returncode == -9, "".join(lines)[-3000:]
    return "".join(lines)


def final_state(out, model):
    return torch.load(os.path.join(out, model, "model.pth.tar-2"), weights_only=False)["state_dict"]


def batch_losses(log, epoch):
    return re.findall(rf"epoch \[{epoch}/2\] batch \[\d+/\d+\] .*? loss ([\d.]+)", log)


def assert_killed_run_resumes_exactly(cmd, tmp_path, model, env=None):
    out = tmp_path / "interrupted"
    uninterrupted = run(cmd(tmp_path / "uninterrupted"), env)
    killed = run_and_kill(cmd(out), env)
    assert not (out / "result.json").exists()  # a killed run is not finished
    resumed = run(cmd(out), env)

    assert f"Resumed {model} from {out / model / 'resume.pth.tar'} (epoch 1)" in resumed
    assert batch_losses(resumed, 2) == batch_losses(uninterrupted, 2) != []
    assert batch_losses(killed, 1) == batch_losses(uninterrupted, 1)
    reference, result = final_state(tmp_path / "uninterrupted", model), final_state(out, model)
    assert reference.keys() == result.keys()
    assert all(torch.equal(reference[k], result[k]) for k in reference)
    expected = json.loads((tmp_path / "uninterrupted" / "result.json").read_text())
    assert json.loads((out / "result.json").read_text()) == expected

    again = run(cmd(out), env)  # a finished run is not trained again
    assert f"{out} is finished (result.json)" in again and "epoch [" not in again


def test_killed_fvgpt_run_resumes_exactly(world_root, small_clip, coop_run, tmp_path):
    """Built-in engine; FVG-PT's random crops and flips draw from the restored random state."""
    def cmd(out):
        return train_py_command(world_root, out, "FVGPT_CoOp", *EPOCHS,
                                "TRAINER.FVGPT.BACKBONE_DIR", str(coop_run),
                                "TEST.FOREGROUND_SHIFT_INDEX", "True", small_clip=small_clip)
    assert_killed_run_resumes_exactly(cmd, tmp_path, "fvgpt_head")


def test_killed_coop_run_resumes_exactly_under_real_dassl(world_root, small_clip, tmp_path,
                                                          real_dassl_env):
    """Real Dassl's warm-up scheduler pickles its successor; resume must step the live one."""
    def cmd(out):
        return train_py_command(world_root, out, "CoOp", *EPOCHS, small_clip=small_clip)
    assert_killed_run_resumes_exactly(cmd, tmp_path, "prompt_learner", real_dassl_env)


def test_resumed_warmup_scheduler_steps_the_live_optimizer():
    """Real Dassl saves a warm-up scheduler's successor as a pickled object (holding a copy of
    the optimizer); resuming must load its state into the live successor instead."""
    import copy

    from dassl.optim.lr_scheduler import ConstantWarmupScheduler

    from fvgpt.resume import load_scheduler_state

    def warmup_cosine():
        optim = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optim, T_max=4)
        return optim, ConstantWarmupScheduler(optim, cosine, 1, 1e-5)

    optim, sched = warmup_cosine()
    sched.step()
    saved = {**sched.state_dict(), "successor": copy.deepcopy(sched.successor)}
    optim_state = copy.deepcopy(optim.state_dict())
    sched.step()

    resumed_optim, resumed = warmup_cosine()
    resumed_optim.load_state_dict(optim_state)
    load_scheduler_state(resumed, saved)
    resumed.step()
    assert resumed.successor.optimizer is resumed_optim
    assert resumed_optim.param_groups[0]["lr"] == optim.param_groups[0]["lr"] != 1e-5
