"""Run a sweep's runs: locally one after another, locally over GPU slots, or as SLURM jobs.

A run is done when its done marker ``result.json`` can be read (``fvgpt.results.read_run``); done runs are never started again, so
every executor resumes a sweep where it stopped. A run counts as failed when train.py exits
non-zero or leaves no result; the runs that need it are then not started.
"""
import getpass
import os
import shlex
import subprocess
import sys
import time

from fvgpt import run_folder

from .plan import REPO

STDOUT_FILE = "stdout.txt"  # a local run's stdout and stderr, in its output folder
SLURM_JOB_FILE = "slurm_job"  # id of the last SLURM job submitted for a run
SLURM_SCRIPT_FILE = "slurm_job.sh"
ACTIVE_STATES = "PENDING,RUNNING,CONFIGURING,COMPLETING,SUSPENDED,REQUEUED,RESIZING"


def plan_status(sweep, runs, queued=None, start_over=False):
    """{run name: "done" | "queued (SLURM job <id>)" | "to run" | "to run again (start over)"
    | "result.json unreadable"}.

    A run whose result.json exists but cannot be read is neither done nor run again: its
    message (``Run.unreadable_result``) says what to do. ``start_over``: runs not queued are
    run again, each in a fresh folder (``start_over_folder``).
    """
    queued = queued or {}
    status = {}
    for run in runs:
        if run.name in queued:
            status[run.name] = f"queued (SLURM job {queued[run.name]})"
        elif start_over:
            status[run.name] = START_OVER
        elif run.result(sweep) is not None:
            status[run.name] = "done"
        elif run.unreadable_result(sweep):
            status[run.name] = UNREADABLE
        else:
            status[run.name] = "to run"
    return status


START_OVER = "to run again (start over)"
UNREADABLE = "result.json unreadable"


def unreadable_results(sweep, runs, status):
    """Lines naming each run whose result.json cannot be read, with the fix."""
    return [f"  {run.unreadable_result(sweep)}" for run in runs if status[run.name] == UNREADABLE]


def start_over_folder(sweep, run, echo=print):
    """Move the run's old folder aside, as train.py --start-over does, before the run starts
    (so that the sweep's log of the new run lands in the new folder)."""
    moved = run_folder.start_over(run.out_dir(sweep))
    if moved:
        echo(f"  starting over: {run.name} (the old run is kept in {moved})")


def describe(sweep, runs, status, where):
    """The plan as text: counts, then one line per run with its status, needs and place."""
    counts = {}
    for s in status.values():
        key = s.split(" (")[0]
        counts[key] = counts.get(key, 0) + 1
    lines = [f"Sweep {sweep.protocol}: {len(runs)} runs, "
             + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
             + f"; output {sweep.output}; runs {where}"]
    for run in runs:
        needs = (f"  after {', '.join(run.deps)}"
                 if run.deps and status[run.name] in ("to run", START_OVER) else "")
        lines.append(f"  [{status[run.name]}] {run.name}{needs}")
    return "\n".join(lines)


def _job_script(sweep, run):
    """bash lines of one run: train.py, then a check that it left a result."""
    out = run.out_dir(sweep)
    check = (f"{shlex.quote(sys.executable)} -c 'import sys; from fvgpt.results import read_run; "
             f"read_run(sys.argv[1])' {shlex.quote(out)}")
    return (f"set -e\ncd {shlex.quote(REPO)}\n{shlex.join(run.command())}\n{check}\n")


def run_local(sweep, runs, slots=(None,), echo=print, start_over=False):
    """Run what is not done; at most one run per slot at a time, needs respected.

    ``slots``: ``None`` (leave CUDA_VISIBLE_DEVICES alone) for sequential runs, or GPU ids,
    one run per entry (repeat an id to share a GPU). Returns the names of failed runs and
    of runs left out because a run they need failed (or whose result.json is unreadable).
    ``start_over``: every run starts again in a fresh folder.
    """
    status = plan_status(sweep, runs, start_over=start_over)
    finished = {name for name, s in status.items() if s == "done"}
    failed = [name for name, s in status.items() if s == UNREADABLE]
    for line in unreadable_results(sweep, runs, status):
        echo(line)
    pending = [r for r in runs if r.name not in finished and r.name not in failed]
    blocked, free, active = [], list(slots), {}
    while pending or active:
        for run in list(pending):
            if any(d in failed or d in blocked for d in run.deps):
                pending.remove(run)
                blocked.append(run.name)
                echo(f"  not run (a run it needs failed): {run.name}")
            elif free and all(d in finished for d in run.deps):
                pending.remove(run)
                slot = free.pop(0)
                if start_over:
                    start_over_folder(sweep, run, echo)
                active[_start(sweep, run, slot)] = (run, slot, time.time())
        if not active:
            break
        time.sleep(0.2)
        for process, (run, slot, start) in list(active.items()):
            if process.poll() is None:
                continue
            del active[process]
            free.append(slot)
            result = run.result(sweep)
            place = "" if slot is None else f" [GPU {slot}]"
            if process.returncode == 0 and result is not None:
                finished.add(run.name)
                echo(f"  {run.name}: {result['accuracy']:.2f}%{place} ({time.time() - start:.0f}s)")
            else:
                failed.append(run.name)
                echo(f"  FAILED{place}: {run.name} (exit {process.returncode}; "
                     f"see {os.path.join(run.out_dir(sweep), STDOUT_FILE)})")
    return failed, blocked


def _start(sweep, run, slot):
    out = run.out_dir(sweep)
    os.makedirs(out, exist_ok=True)
    env = dict(os.environ)
    if slot is not None:
        env["CUDA_VISIBLE_DEVICES"] = str(slot)
    with open(os.path.join(out, STDOUT_FILE), "w") as log:
        return subprocess.Popen(["bash", "-c", _job_script(sweep, run)], cwd=REPO, env=env,
                                stdout=log, stderr=subprocess.STDOUT)


def slurm_queued(sweep, runs):
    """{run name: job id} of runs whose last submitted job is still in SLURM's queue."""
    recorded = {}
    for run in runs:
        path = os.path.join(run.out_dir(sweep), SLURM_JOB_FILE)
        if os.path.isfile(path):
            with open(path) as f:
                recorded[run.name] = f.read().strip()
    if not recorded:
        return {}
    active = set(_squeue())
    return {name: job for name, job in recorded.items() if job in active}


def _squeue():
    out = subprocess.run(["squeue", "-h", "-u", getpass.getuser(), "-t", ACTIVE_STATES, "-o", "%i"],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def submit_slurm(sweep, runs, sbatch_args=(), echo=print, start_over=False):
    """sbatch every run that is neither done nor queued, chained with --dependency=afterok.

    A job whose needed job fails is removed by SLURM (--kill-on-invalid-dep=yes); submitting
    the sweep again resubmits exactly what is neither done nor queued. Each job writes
    ``<run folder>/slurm-<job id>.out``. Returns {run name: job id} of the jobs in the queue.
    A run whose result.json is unreadable is not submitted (its message says what to do);
    ``start_over``: every run not queued is submitted again, its old folder moved aside.
    """
    queued = slurm_queued(sweep, runs)
    status = plan_status(sweep, runs, queued, start_over)
    for line in unreadable_results(sweep, runs, status):
        echo(line)
    for run in runs:
        if status[run.name] not in ("to run", START_OVER):
            continue
        if start_over:
            start_over_folder(sweep, run, echo)
        out = run.out_dir(sweep)
        os.makedirs(out, exist_ok=True)
        script = os.path.join(out, SLURM_SCRIPT_FILE)
        with open(script, "w") as f:
            f.write("#!/bin/bash\n" + _job_script(sweep, run))
        needs = [queued[d] for d in run.deps if d in queued]
        cmd = ["sbatch", "--parsable", f"--job-name=fvgpt-{run.seed}-{run.dataset}",
               f"--output={os.path.join(out, 'slurm-%j.out')}", "--kill-on-invalid-dep=yes",
               *sbatch_args]
        if needs:
            cmd.append("--dependency=afterok:" + ":".join(needs))
        submitted = subprocess.run(cmd + [script], capture_output=True, text=True)
        if submitted.returncode != 0:
            raise RuntimeError(f"sbatch failed for {run.name}: {submitted.stderr.strip()}")
        queued[run.name] = submitted.stdout.strip().split(";")[0]
        with open(os.path.join(out, SLURM_JOB_FILE), "w") as f:
            f.write(queued[run.name] + "\n")
        echo(f"  submitted job {queued[run.name]}: {run.name}"
             + (f" (after {', '.join(needs)})" if needs else ""))
    return queued


def wait_slurm(job_ids, poll_s=2.0, timeout_s=None):
    """Block until none of ``job_ids`` is in SLURM's queue (or ``timeout_s`` passes)."""
    start = time.time()
    while set(job_ids) & set(_squeue()):
        if timeout_s is not None and time.time() - start > timeout_s:
            raise TimeoutError(f"SLURM jobs still queued after {timeout_s}s: {sorted(job_ids)}")
        time.sleep(poll_s)
