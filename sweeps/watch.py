"""One run at a time in the foreground, as the FG-World scripts run theirs: skipped when done,
else train.py with a status line (epoch, batch) and an estimate of the time left for the job."""
import re
import subprocess
import sys
import time

from .plan import REPO, ZERO_SHOT

EPOCHS = 10  # configs/trainers/*/world.yaml
REGIME_COST = 3  # work of one seed's regime scoring (8 val passes of a third of a test pass)
BATCH_LINE = re.compile(r"^epoch \[(\d+)/(\d+)\] batch \[(\d+)/(\d+)\]")


def run_cost(trainer, split):
    """Work of a run in units of one test pass (a training epoch counts as one)."""
    return 1 + (EPOCHS if trainer != ZERO_SHOT and split == "base" else 0)


class Progress:
    """Work done and left over the whole job; estimates the time left from the pace so far.

    Each run (or regime scoring) is counted once, by its key, however often it is met:
    the regime checks and the table share CoOp's base runs.
    """

    def __init__(self, methods, seeds, splits=("base", "new"), worlds=1, regime=False):
        per_world = sum(run_cost(m, s) for m in methods for s in splits) + REGIME_COST * regime
        self.left = per_world * len(seeds) * worlds
        self.done = 0.0
        self.counted = set()
        self.start = time.time()

    def skip(self, key, cost):
        """A piece of work found done before: no longer left, and not done in this job."""
        if key not in self.counted:
            self.counted.add(key)
            self.left -= cost

    def finish(self, key, cost):
        if key not in self.counted:
            self.counted.add(key)
            self.done += cost
            self.left -= cost

    def eta(self, in_run=0.0):
        """Time left at the pace so far; "estimating" until a first run has finished (before,
        the pace would be mostly the start-up of one process)."""
        if self.done <= 0:
            return "estimating"
        done = self.done + in_run
        left = max(0.0, (time.time() - self.start) / done * (self.left - in_run))
        return f"about {left / 60:.0f} min left" if left >= 90 else f"about {left:.0f} s left"


def run_watched(sweep, run, progress, show_result=True):
    """Run ``run`` of ``sweep`` unless its result.json reads; return its result.

    ``show_result=False`` prints no accuracy (the regime checks train CoOp's base runs but
    look at the val split only). A failed run ends the process with train.py's last lines.
    """
    label = f"  {run.trainer:15s} {run.split:4s} seed {run.seed}"
    cost = run_cost(run.trainer, run.split)
    result = run.result(sweep)
    if result is not None:
        shown = f"{result['accuracy']:.2f}%" if show_result else "trained"
        print(f"{label}: {shown} (done before)")
        progress.skip(run.out_dir(sweep), cost)
        return result
    cmd = [sys.executable, "-u", "train.py", *run.args]
    start = time.time()
    tail, last_epoch = [], None
    with subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as proc:
        for line in proc.stdout:
            tail = (tail + [line])[-60:]
            batch = BATCH_LINE.match(line)
            if not batch:
                continue
            epoch, epochs, b, batches = (int(v) for v in batch.groups())
            status = (f"{label}: epoch {epoch}/{epochs} batch {b}/{batches}, "
                      f"job: {progress.eta(epoch - 1 + b / batches)}")
            if sys.stdout.isatty():  # one status line, rewritten in place
                print(f"\r{status}   ", end="", flush=True)
            elif epoch != last_epoch:  # a log file: one line per epoch
                print(status, flush=True)
            last_epoch = epoch
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)}\nfailed:\n{''.join(tail)[-3000:]}")
    progress.finish(run.out_dir(sweep), cost)
    result = run.result(sweep)
    if result is None:
        sys.exit(f"{' '.join(cmd)}\nleft no readable result.json in {run.out_dir(sweep)}")
    shift = "" if result["d_fg"] is None else f", D_fg {result['d_fg']:.4f}"
    shown = f"{result['accuracy']:.2f}%{shift}" if show_result else "trained"
    print(f"\r{label}: {shown} ({time.time() - start:.0f}s; job: {progress.eta()})" + " " * 20,
          flush=True)
    return result
