"""One run at a time in the foreground, as the FG-World scripts run theirs: skipped when done,
else train.py (in this process, or as a process of its own) with a status line (epoch, batch)
and an estimate of the time left for the job."""
import os
import re
import subprocess
import sys
import time
import traceback

from fvgpt import run_folder
from fvgpt.clip_loader import LOADED

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


def run_watched(sweep, run, progress, show_result=True, in_process=True):
    """Run ``run`` of ``sweep`` unless its result.json reads; return its result.

    ``show_result=False`` prints no accuracy (the regime checks train CoOp's base runs but
    look at the val split only). ``in_process``: train.py's ``main`` in this process (no
    process start, imports or CUDA set-up per run; the same numbers, as train.py seeds every
    run), else a ``python train.py`` process. A failed run ends the process with train.py's
    last lines.
    """
    label = f"  {run.trainer:15s} {run.split:4s} seed {run.seed}"
    cost = run_cost(run.trainer, run.split)
    result = run.result(sweep)
    if result is not None:
        shown = f"{result['accuracy']:.2f}%" if show_result else "trained"
        print(f"{label}: {shown} (done before)")
        progress.skip(run.out_dir(sweep), cost)
        return result
    start = time.time()
    status = StatusLine(label, progress)
    if in_process:
        failure = run_in_process(run, sweep, status.line)
    else:
        failure = run_process(run, status.line)
    command = " ".join(run.command())
    if failure is not None:
        sys.exit(f"{command}\nfailed:\n{''.join(status.tail)[-3000:]}{failure}")
    progress.finish(run.out_dir(sweep), cost)
    result = run.result(sweep)
    if result is None:
        sys.exit(f"{command}\nleft no readable result.json in {run.out_dir(sweep)}")
    shift = "" if result["d_fg"] is None else f", D_fg {result['d_fg']:.4f}"
    shown = f"{result['accuracy']:.2f}%{shift}" if show_result else "trained"
    print(f"\r{label}: {shown} ({time.time() - start:.0f}s; job: {progress.eta()})" + " " * 20,
          flush=True)
    return result


class StatusLine:
    """train.py's output, line by line: keeps the last lines, shows epoch and batch."""

    def __init__(self, label, progress):
        self.label, self.progress = label, progress
        self.console = sys.stdout
        self.tail, self.last_epoch = [], None

    def line(self, line):
        self.tail = (self.tail + [line])[-60:]
        batch = BATCH_LINE.match(line)
        if not batch:
            return
        epoch, epochs, b, batches = (int(v) for v in batch.groups())
        status = (f"{self.label}: epoch {epoch}/{epochs} batch {b}/{batches}, "
                  f"job: {self.progress.eta(epoch - 1 + b / batches)}")
        if self.console.isatty():  # one status line, rewritten in place
            print(f"\r{status}   ", end="", flush=True, file=self.console)
        elif epoch != self.last_epoch:  # a log file: one line per epoch
            print(status, flush=True, file=self.console)
        self.last_epoch = epoch


def run_process(run, on_line):
    """``python train.py`` with the run's arguments; None, or what failed."""
    with subprocess.Popen(run.command(), cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            on_line(line)
    return None if proc.returncode == 0 else f"(exit status {proc.returncode})"


class LineStream:
    """A stdout / stderr stand-in handing each complete line to ``on_line``."""

    def __init__(self, on_line):
        self.on_line, self.pending = on_line, ""

    def write(self, text):
        lines = (self.pending + text).split("\n")
        self.pending = lines.pop()
        for line in lines:
            self.on_line(line + "\n")
        return len(text)

    def flush(self):
        pass

    def close(self):  # Dassl's Logger closes the stream it wraps
        pass

    def isatty(self):
        return False


def run_in_process(run, sweep, on_line):
    """train.py's ``main`` on the run's arguments in this process; None, or what failed.

    Its output (which Dassl's logger also writes to the run's log.txt) goes to ``on_line``;
    stdout, stderr and the working directory are restored afterwards, the log file closed and
    the run folder's lock released.
    """
    import train  # the repository's train.py (REPO is on sys.path)

    LOADED.keep()  # CLIP built once for the runs of this process (exactly: fvgpt.clip_loader)
    saved, cwd = (sys.stdout, sys.stderr), os.getcwd()
    stream = LineStream(on_line)
    sys.stdout = sys.stderr = stream
    failure = None
    try:
        os.chdir(REPO)
        train.main(train.build_parser().parse_args(run.args))
    except SystemExit as err:
        if err.code not in (None, 0):
            failure = str(err.code)
    except Exception:  # noqa: BLE001  reported like a failed process, with its traceback
        failure = traceback.format_exc()
    finally:
        logger = sys.stdout
        sys.stdout, sys.stderr = saved
        os.chdir(cwd)
        if logger is not stream and hasattr(logger, "close"):
            logger.close()  # Dassl's Logger: the run's log.txt
        if stream.pending:
            on_line(stream.pending)
        run_folder.unlock(run.out_dir(sweep))
    return failure
