"""Sweeps: the plan a description expands to, its executors (local, GPU slots, a real SLURM)
and the paper's tables made from the runs."""
import json
import os

import pytest

from fixture_trees import build_tree
from fvgpt.results import read_run
from fvgpt.world.generate import ensure_world
from local_slurm import ClusterUnavailable, LocalSlurm
from sweeps import plan
from sweeps.plan import Backbone, Sweep, expand
from sweeps.run import main as run_main
from sweeps.tables import main as tables_main

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
    # variant sweeps beside this one replay the backbone outputs its FVG-PT training runs record
    replay = ["TRAINER.FVGPT.REPLAY_CACHE", str(tmp_path.parent / "replay_cache")]
    assert " ".join(replay) in " ".join(runs[fvgpt].args)
    assert "TRAINER.FVGPT.REPLAY_CACHE" not in runs[coop].args + runs[
        "test_new/eurosat/shots_16/FVGPT_CoOp/vit_b16_ep20/seed2"].args
    test = runs["test_new/eurosat/shots_16/FVGPT_CoOp/vit_b16_ep20/seed2"]
    assert test.deps == [fvgpt] and test.args[test.args.index("--load-epoch") + 1] == "20"
    zero_shot = runs["test_new/oxford_pets/shots_16/ZeroshotCLIP/vit_b16_ep10/seed1"]
    assert zero_shot.deps == [] and "--eval-only" in zero_shot.args


def test_xd_plan_tests_each_target_after_the_imagenet_run(tmp_path):
    sweep = Sweep("xd", ["CoOp"], ["oxford_pets", "dtd"], [1], root="/data", output=str(tmp_path))
    runs = {r.name: r for r in expand(sweep)}
    source = "train/imagenet/shots_16/FVGPT_CoOp/vit_b16_xd/seed1"
    assert sorted(runs) == sorted(
        [f"train/imagenet/shots_16/{t}/vit_b16_xd/seed1" for t in ("CoOp", "FVGPT_CoOp")]
        + [f"test/{d}/shots_16/{t}/vit_b16_xd/seed1" for d in ("oxford_pets", "dtd")
           for t in ("CoOp", "FVGPT_CoOp")])
    target = runs["test/dtd/shots_16/FVGPT_CoOp/vit_b16_xd/seed1"]
    assert target.deps == [source] and " ".join(target.args).count("TRAINER.FVGPT.TEST_BRANCH pc") == 1
    assert "DATASET.SUBSAMPLE_CLASSES all" in " ".join(runs[source].args)


def test_a_new_backbone_joins_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(plan.BACKBONES, "CoOpAgain", Backbone("CoOp", "FVGPT_CoOp", {"base2new": "world"}))
    sweep = Sweep("base2new", ["CoOpAgain"], ["fg_world"], [1], root="/data", output=str(tmp_path))
    assert [r.method for r in expand(sweep)] == ["CoOp"] * 2 + ["CoOp + FVG-PT"] * 2
    with pytest.raises(ValueError, match="Unknown backbone"):
        Sweep("base2new", ["NoSuchNet"], ["fg_world"], [1], root="/data", output=str(tmp_path))
    with pytest.raises(ValueError, match="--shots"):
        Sweep("base2new", ["CoOp"], ["fg_world"], [1], root="/data", output=str(tmp_path),
              opts=["DATASET.NUM_SHOTS", "4"])


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
