"""Sweeps: the plan a description expands to, its executors (local, GPU slots, a real SLURM),
the per-trainer scripts that make the same runs, and the paper's tables made from the runs."""
import dataclasses
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO_ROOT
from fixture_trees import build_tree
from fvgpt.backbones.registry import BACKBONES
from fvgpt.results import read_run
from fvgpt.world.generate import ensure_world
from local_slurm import ClusterUnavailable, LocalSlurm
from sweeps.plan import Sweep, expand, run_of, world_sweep
from sweeps.run import main as run_main
from sweeps.tables import main as tables_main
from sweeps.watch import Progress, run_watched


def cli(capsys, main, *args):
    """Exit code and output of ``python -m sweeps.run|sweeps.tables ARGS`` (``main`` of either)."""
    try:
        main([str(a) for a in args])
        code, message = 0, ""
    except SystemExit as e:
        code, message = (e.code, "") if isinstance(e.code, int) else (1, str(e.code))
    captured = capsys.readouterr()
    return code, captured.out + captured.err + message


def ok(capsys, main, *args):
    code, out = cli(capsys, main, *args)
    assert code == 0, out[-4000:]
    return out


def test_base2new_plan_chains_each_backbone_into_fvgpt(tmp_path):
    sweep = Sweep("base2new", ["ZeroshotCLIP", "CoOp"], ["oxford_pets", "eurosat"], [1, 2, 3],
                  root="/data", output=str(tmp_path))
    runs = {r.name: r for r in expand(sweep)}
    # per data set and seed: zero-shot base + new; CoOp train, test; FVG-PT train, test
    assert len(runs) == 2 * 3 * 6
    coop = "train_base/eurosat/shots_16/CoOp/vit_b16_ep20/seed2"  # EuroSAT: 20 epochs
    fvgpt = "train_base/eurosat/shots_16/FVGPT_CoOp/vit_b16_ep20/seed2"
    assert runs[coop].deps == []
    assert runs["test_new/eurosat/shots_16/CoOp/vit_b16_ep20/seed2"].deps == [coop]
    assert runs[fvgpt].deps == [coop]
    assert str(tmp_path / coop) in runs[fvgpt].args  # TRAINER.FVGPT.BACKBONE_DIR
    # variant sweeps beside this one replay the backbone outputs its FVG-PT runs record
    replay = " ".join(["TRAINER.FVGPT.REPLAY_CACHE", str(tmp_path.parent / "replay_cache")])
    test = runs["test_new/eurosat/shots_16/FVGPT_CoOp/vit_b16_ep20/seed2"]
    assert replay in " ".join(runs[fvgpt].args) and replay in " ".join(test.args)
    assert "TRAINER.FVGPT.REPLAY_CACHE" not in runs[coop].args
    assert test.deps == [fvgpt] and "--load-epoch" not in test.args  # the last epoch
    # D_fg on the base test set in every base-class run, none in the new-class ones
    assert "TEST.FOREGROUND_SHIFT_INDEX True" in " ".join(runs[coop].args)
    assert "TEST.FOREGROUND_SHIFT_INDEX" not in " ".join(test.args)
    zero_shot = runs["test_new/oxford_pets/shots_16/ZeroshotCLIP/vit_b16_ep10/seed1"]
    assert zero_shot.deps == [] and "--eval-only" in zero_shot.args


def test_mmrl_and_fvgpt_on_it_each_get_their_own_config(tmp_path):
    """MMRL trains with the authors' AdamW config, FVG-PT on it with the paper's SGD schedule."""
    sweep = Sweep("base2new", ["MMRL"], ["dtd", "eurosat"], [1], root="/data", output=str(tmp_path))
    names = [r.name for r in expand(sweep) if r.split == "base"]
    assert names == ["train_base/dtd/shots_16/MMRL/vit_b16/seed1",
                     "train_base/dtd/shots_16/FVGPT_MMRL/vit_b16_ep10/seed1",
                     "train_base/eurosat/shots_16/MMRL/vit_b16/seed1",
                     "train_base/eurosat/shots_16/FVGPT_MMRL/vit_b16_ep20/seed1"]
    fvgpt = expand(sweep)[2]
    assert fvgpt.args[fvgpt.args.index("--config-file") + 1].endswith("FVGPT_MMRL/vit_b16_ep10.yaml")


def test_xd_plan_tests_each_target_after_the_imagenet_run(tmp_path):
    sweep = Sweep("xd", ["CoOp", "MMRL"], ["oxford_pets", "dtd"], [1], root="/data",
                  output=str(tmp_path))
    runs = {r.name: r for r in expand(sweep)}
    source = "train/imagenet/shots_16/FVGPT_CoOp/vit_b16_xd/seed1"
    assert sorted(n for n in runs if "CoOp" in n) == sorted(
        [f"train/imagenet/shots_16/{t}/vit_b16_xd/seed1" for t in ("CoOp", "FVGPT_CoOp")]
        + [f"test/{d}/shots_16/{t}/vit_b16_xd/seed1" for d in ("oxford_pets", "dtd")
           for t in ("CoOp", "FVGPT_CoOp")])
    target = runs["test/dtd/shots_16/FVGPT_CoOp/vit_b16_xd/seed1"]
    assert target.deps == [source] and " ".join(target.args).count("TRAINER.FVGPT.TEST_BRANCH pc") == 1
    assert "DATASET.SUBSAMPLE_CLASSES all" in " ".join(runs[source].args)
    assert "TEST.FOREGROUND_SHIFT_INDEX" not in " ".join(runs[source].args)  # no base classes
    # MMRL's test-time branch follows TASK: its CLS head (CD) on the source and every target
    mmrl = [r for r in runs.values() if r.backbone == "MMRL"]
    assert len(mmrl) == 6 and all("TASK CD" in " ".join(r.args) for r in mmrl)


def test_a_new_backbone_joins_by_registering_its_record(tmp_path, monkeypatch):
    configs = tmp_path / "configs"
    for trainer in ("CoOpAgain", "FVGPT_CoOpAgain"):
        (configs / trainer).mkdir(parents=True)
        (configs / trainer / "world.yaml").write_text("OPTIM:\n  MAX_EPOCH: 3\n")
    record = dataclasses.replace(BACKBONES["CoOp"], name="CoOpAgain", configs={"base2new": "world"},
                                 config_dir=str(configs))
    monkeypatch.setitem(BACKBONES, "CoOpAgain", record)
    sweep = Sweep("base2new", ["CoOpAgain"], ["fg_world"], [1], root="/data", output=str(tmp_path))
    runs = expand(sweep)
    assert [r.method for r in runs] == ["CoOpAgain"] * 2 + ["CoOpAgain + FVG-PT"] * 2
    assert runs[2].args[runs[2].args.index("--config-file") + 1] == str(
        configs / "FVGPT_CoOpAgain" / "world.yaml")
    with pytest.raises(ValueError, match="Unknown backbone"):
        Sweep("base2new", ["NoSuchNet"], ["fg_world"], [1], root="/data", output=str(tmp_path))
    with pytest.raises(ValueError, match="--shots"):
        Sweep("base2new", ["CoOp"], ["fg_world"], [1], root="/data", output=str(tmp_path),
              opts=["DATASET.NUM_SHOTS", "4"])


def test_world_plan_keeps_the_main_jobs_folders(tmp_path):
    """scripts/world_benchmark.py's runs of one world: <trainer>/<base|new>/seed<S>."""
    sweep = world_sweep("/data/world0", str(tmp_path), 0, ["ZeroshotCLIP", "CoOp"], [1])
    runs = expand(sweep)
    assert [r.name for r in runs] == [f"{t}/{s}/seed1" for t in ("ZeroshotCLIP", "CoOp", "FVGPT_CoOp")
                                      for s in ("base", "new")]
    assert runs[-1].args == [
        "--root", "/data/world0", "--seed", "1", "--trainer", "FVGPT_CoOp",
        "--dataset-config-file", os.path.join(REPO_ROOT, "configs/datasets/fg_world.yaml"),
        "--config-file", os.path.join(REPO_ROOT, "configs/trainers/FVGPT_CoOp/world.yaml"),
        "--output-dir", str(tmp_path / "FVGPT_CoOp/new/seed1"),
        "--eval-only", "--model-dir", str(tmp_path / "FVGPT_CoOp/base/seed1"), "--load-epoch", "10",
        "DATASET.NUM_SHOTS", "16", "DATASET.SUBSAMPLE_CLASSES", "new", "TRAINER.FVGPT.FG_FILL", "black",
        "TRAINER.FVGPT.BACKBONE_DIR", str(tmp_path / "CoOp/base/seed1"), "DATASET.WORLD_SEED", "0"]
    assert "TRAINER.FVGPT.REPLAY_CACHE" not in runs[-2].args  # the main job replays nothing


def test_an_ablation_variant_builds_on_the_main_jobs_backbone_runs(tmp_path):
    variant = world_sweep("/data/world0", str(tmp_path / "no_L_dist"), 0, ["CoOp"], [1],
                          backbone_output=str(tmp_path / "main"), fvgpt_opts=["TRAINER.FVGPT.TAU", "4.0"])
    coop, coop_new, fvgpt, fvgpt_new = expand(variant)
    assert coop.out_dir(variant) == str(tmp_path / "main/CoOp/base/seed1")
    assert fvgpt.out_dir(variant) == str(tmp_path / "no_L_dist/FVGPT_CoOp/base/seed1")
    assert " ".join(["TRAINER.FVGPT.BACKBONE_DIR", coop.out_dir(variant)]) in " ".join(fvgpt.args)
    assert all("TRAINER.FVGPT.TAU 4.0" in " ".join(r.args) for r in (fvgpt, fvgpt_new))
    assert "TRAINER.FVGPT.TAU" not in " ".join(coop.args + coop_new.args)


# A stand-in for python on PATH: records the arguments of each train.py call, runs nothing.
RECORDING_PYTHON = """#!/bin/sh
[ "$1" = train.py ] || exit 3
shift
printf '%s\\0' "$@" > "$(mktemp "$CALLS/call.XXXXXX")"
"""


def script_calls(tmp_path, protocol, scripts, opts):
    """train.py arguments of ``bash scripts/<script> <args> <opts>`` for each (script, args),
    with python replaced by a recorder; config paths made absolute as the planner gives them."""
    stub, calls = tmp_path / "bin", tmp_path / "calls"
    stub.mkdir(exist_ok=True)
    calls.mkdir(exist_ok=True)
    (stub / "python").write_text(RECORDING_PYTHON)
    (stub / "python").chmod(0o755)
    env = dict(os.environ, PATH=f"{stub}:{os.environ['PATH']}", CALLS=str(calls),
               DATA=str(tmp_path / "data"), OUTPUT=str(tmp_path / protocol))
    for script, args in scripts:
        done = subprocess.run(["bash", f"scripts/{script}", *args, *opts], cwd=REPO_ROOT, env=env,
                              capture_output=True, text=True)
        assert done.returncode == 0, (script, done.stderr)
    recorded = []
    for call in sorted(calls.iterdir()):
        args = call.read_bytes().decode().split("\0")[:-1]
        recorded.append([os.path.join(REPO_ROOT, a) if a.startswith("configs/") else a for a in args])
        call.unlink()
    return recorded


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_the_scripts_make_the_runs_of_sweeps_run(backbone, tmp_path):
    """scripts/<backbone>/ and scripts/fvgpt_<backbone>/ give train.py exactly the arguments
    of the planner's runs (trainer, config, folder, options), for both protocols."""
    opts = ["OPTIM.MAX_EPOCH", "2"]
    folders = (backbone.lower(), f"fvgpt_{backbone.lower()}")
    for protocol, datasets, scripts in (
            ("base2new", ["dtd", "eurosat"],
             [(f"{f}/base2new_{stage}.sh", [d, "1"]) for d in ("dtd", "eurosat") for f in folders
              for stage in ("train", "test")]),
            ("xd", ["dtd", "imagenet"],
             [(f"{f}/xd_train.sh", ["1"]) for f in folders]
             + [(f"{f}/xd_test.sh", [d, "1"]) for d in ("dtd", "imagenet") for f in folders])):
        sweep = Sweep(protocol, [backbone], datasets, [1], root=str(tmp_path / "data"),
                      output=str(tmp_path / protocol), opts=opts)
        planned = {r.out_dir(sweep): r.args for r in expand(sweep)}
        made = {args[args.index("--output-dir") + 1]: args
                for args in script_calls(tmp_path, protocol, scripts, opts)}
        assert sorted(made) == sorted(planned)
        for folder, args in planned.items():
            assert made[folder] == args, folder


def test_tables_read_the_runs_of_the_xd_scripts(tmp_path, capsys):
    """Folders made by scripts/{coop,fvgpt_coop}/xd_*.sh, no sweep.json: the sweep is inferred."""
    scripts = [(f"{f}/xd_train.sh", ["1"]) for f in ("coop", "fvgpt_coop")] + [
        (f"{f}/xd_test.sh", ["dtd", "1"]) for f in ("coop", "fvgpt_coop")]
    for args in script_calls(tmp_path, "xd", scripts, []):
        folder = args[args.index("--output-dir") + 1]
        os.makedirs(folder)
        (tmp_path / folder / "result.json").write_text(json.dumps({"accuracy": 60.0, "d_fg": None}))
    table = ok(capsys, tables_main, tmp_path / "xd")
    assert "| CoOp + FVG-PT | 60.00 ± 0.00 | 60.00 ± 0.00 | 60.00 |" in table


def write_result(sweep, run, accuracy):
    os.makedirs(run.out_dir(sweep), exist_ok=True)
    with open(os.path.join(run.out_dir(sweep), "result.json"), "w") as f:
        json.dump({"accuracy": accuracy, "d_fg": None}, f)


def test_table1_marks_missing_runs_and_never_averages_fewer_data_sets(tmp_path, capsys):
    sweep = Sweep("base2new", ["CoOp"], ["oxford_pets", "dtd"], [1, 2], root="/data",
                  output=str(tmp_path))
    sweep.save()
    runs = expand(sweep)
    missing = "test_new/dtd/shots_16/FVGPT_CoOp/vit_b16_ep10/seed2"
    for i, run in enumerate(runs):
        if run.name != missing:
            write_result(sweep, run, 50.0 + i)
    out = ok(capsys, tables_main, tmp_path)
    rows = {(r.split("|")[1].strip(), r.split("|")[2].strip()): r for r in out.splitlines()
            if r.startswith("| ")}
    dtd = rows[("dtd", "CoOp + FVG-PT")]
    assert "| 1/2 (seeds 1; left out, base or new only: 2) |" in dtd  # one seed short
    assert "78.24" not in dtd  # no difference to the paper claimed for it
    base1 = next(50.0 + i for i, r in enumerate(runs)
                 if r.name == missing.replace("test_new", "train_base").replace("seed2", "seed1"))
    assert f"| {base1:.2f} ± 0.00 |" in dtd  # base over seed 1 only, the seed new has
    assert "missing: dtd" in rows[("average over 2", "CoOp + FVG-PT")]
    assert "81.13 / 53.99 / 64.83" in dtd  # the paper's DTD figures beside ours (Table 1)
    pets = rows[("oxford_pets", "CoOp")]
    assert "95.11 / 97.04 / 96.07" in pets and pets.split("|")[-2].strip()  # paper and difference
    assert os.path.getsize(tmp_path / "table1.png") > 0
    assert 'dtd,CoOp + FVG-PT,"1/2 (seeds 1;' in (tmp_path / "table1.csv").read_text()

    write_result(sweep, next(r for r in runs if r.name == missing), 60.0)
    out = ok(capsys, tables_main, tmp_path)
    assert "missing" not in out.split("Written to")[0]


def world_sweep_args(root, output, small_clip, *executor):
    return ["base2new", "--root", str(root), "--output", str(output),
            "--backbones", "CoOp", "--datasets", "fg_world", "--seeds", "1", "--config", "world",
            "--shots", "2", *executor, "--opts", "OPTIM.MAX_EPOCH", "1",
            "MODEL.BACKBONE.NAME", small_clip]


def results(output):
    found = {}
    for folder, _, files in os.walk(output):
        if "log.txt" in files:
            found[os.path.relpath(folder, output)] = read_run(folder)["accuracy"]
    return found


def test_slurm_and_gpu_slots_give_the_same_results(small_clip, tmp_path, capsys, monkeypatch):
    """A real one-node SLURM (tests/local_slurm.py); in CI (FVGPT_REQUIRE_SLURM=1) it must run."""
    world = tmp_path / "data"
    ensure_world(str(world))
    local = tmp_path / "local"
    ok(capsys, run_main, *world_sweep_args(world, local, small_clip, "--executor", "parallel",
                                           "--gpus", "0", "1"))
    assert len(results(local)) == 4

    try:
        cluster = LocalSlurm(tmp_path / "slurm")
        env = cluster.__enter__()
    except ClusterUnavailable as e:
        (pytest.fail if os.environ.get("FVGPT_REQUIRE_SLURM") == "1" else pytest.skip)(
            f"no one-node SLURM here: {e}")
    try:
        slurm = tmp_path / "slurm_out"
        monkeypatch.setenv("SLURM_CONF", env["SLURM_CONF"])
        not_a_folder = tmp_path / "not_a_folder"
        not_a_folder.write_text("")
        code, log = cli(capsys, run_main, *world_sweep_args(not_a_folder, slurm, small_clip,
                                                            "--executor", "slurm", "--wait"))
        assert code != 0 and "4 runs not done" in log  # the first job fails, SLURM drops the rest
        out = ok(capsys, run_main, *world_sweep_args(world, slurm, small_clip, "--executor", "slurm",
                                                     "--wait"))
        assert out.count("submitted job") == 4 and "(after " in out  # all resubmitted, chained
        assert results(slurm) == results(local)
        assert list((slurm / "test_new/fg_world/shots_2/FVGPT_CoOp/world/seed1").glob("slurm-*.out"))
        again = ok(capsys, run_main, *world_sweep_args(world, slurm, small_clip, "--executor", "slurm"))
        assert "4 runs, 4 done" in again and "submitted" not in again
    finally:
        cluster.__exit__(None, None, None)


def test_xd_on_two_real_layouts_gives_table2_beside_the_paper(small_clip, tmp_path, capsys):
    """ImageNet (source) and OxfordPets (target) as fixture trees in CoOp's layout."""
    data = tmp_path / "data"
    for name in ("ImageNet", "OxfordPets"):
        build_tree(name, str(data))
    output = tmp_path / "xd"
    ok(capsys, run_main, "xd", "--root", data, "--output", output, "--backbones", "CoOp",
       "--datasets", "oxford_pets", "--seeds", "1", "--executor", "parallel", "--gpus", "0", "1",
       "--opts", "MODEL.BACKBONE.NAME", small_clip,
       "INPUT.SIZE", "(32, 32)", "DATALOADER.NUM_WORKERS", "0", "OPTIM.MAX_EPOCH", "1")
    table = ok(capsys, tables_main, output)
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| ")}
    assert "imagenet (source) | oxford_pets | average over 1 targets" in table
    assert "| 71.55 | 90.11 |" in rows["CoOp (paper)"]  # paper Table 2
    assert "| 72.09 | 89.75 |" in rows["CoOp + FVG-PT (paper)"]
    assert "missing" not in rows["CoOp + FVG-PT"] and rows["Δ ours − paper"].count("|") == 5
    assert (output / "table2.csv").read_text().count("oxford_pets") == 2


def test_sweep_json_keeps_every_sweep_asked_for_in_the_folder(tmp_path):
    """A narrower re-run adds to sweep.json; the tables cover the union of all requests."""
    Sweep("base2new", ["CoOp"], ["dtd"], [1, 2], root="/data", output=str(tmp_path)).save()
    Sweep("base2new", ["KgCoOp"], ["dtd", "eurosat"], [2], root="/data2",
          output=str(tmp_path)).save()
    Sweep("base2new", ["CoOp"], ["dtd"], [1, 2], root="/data2", output=str(tmp_path)).save()
    assert len(json.loads((tmp_path / "sweep.json").read_text())["requests"]) == 3
    moved = tmp_path.rename(tmp_path.parent / "moved")
    union = Sweep.load(str(moved))
    assert (union.backbones, union.datasets, union.seeds) == (["CoOp", "KgCoOp"], ["dtd", "eurosat"], [1, 2])
    assert union.output == str(moved) and union.root == "/data2"  # the folder given; the last root
    with pytest.raises(ValueError, match=r"shots \(16 there, 4 now\)"):
        Sweep("base2new", ["CoOp"], ["dtd"], [1], root="/data", output=str(moved), shots=4).save()


def test_a_sweep_json_of_one_sweep_is_read_from_where_the_folder_is(tmp_path):
    """sweep.json as written before it kept every request: its absolute output is not used."""
    (tmp_path / "sweep.json").write_text(json.dumps(
        {"protocol": "base2new", "backbones": ["CoOp"], "datasets": ["dtd"], "seeds": [1],
         "root": "/data", "output": "/elsewhere/old", "shots": 16, "config": None, "opts": []}))
    assert Sweep.load(str(tmp_path)).output == str(tmp_path)


def test_a_run_failing_in_the_jobs_process_ends_the_job_with_its_message(world_root, tmp_path):
    """The FG-World scripts run train.py's main in their own process: a failed run stops the
    job with its command and message, and leaves stdout as it was."""
    sweep = world_sweep(str(world_root), str(tmp_path), 0, ["CoOp"], [1],
                        opts=["TRAINER.COOP.NO_SUCH_KEY", "1"])
    stdout = sys.stdout
    with pytest.raises(SystemExit) as failed:
        run_watched(sweep, run_of(sweep, "CoOp", "base", 1), Progress(["CoOp"], [1]))
    message = str(failed.value.code)
    assert "train.py --root" in message and "failed" in message and "NO_SUCH_KEY" in message
    assert sys.stdout is stdout
