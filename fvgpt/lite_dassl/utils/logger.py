"""Copy everything printed to stdout into a log file."""
import os
import os.path as osp
import sys
import time

from .tools import mkdir_if_missing

__all__ = ["Logger", "setup_logger"]


class Logger:
    """A stdout replacement writing to the console and to ``fpath``."""

    def __init__(self, fpath=None):
        self.console = sys.stdout
        self.file = None
        if fpath is not None:
            mkdir_if_missing(osp.dirname(fpath))
            self.file = open(fpath, "w")

    def write(self, msg):
        self.console.write(msg)
        if self.file is not None:
            self.file.write(msg)

    def flush(self):
        self.console.flush()
        if self.file is not None:
            self.file.flush()
            os.fsync(self.file.fileno())

    def close(self):
        """Close the log file (the console stays open)."""
        if self.file is not None:
            self.file.close()
            self.file = None

    def __getattr__(self, name):
        """Everything else (isatty, encoding, ...) comes from the console stream."""
        if name == "console":
            raise AttributeError(name)
        return getattr(self.console, name)


def setup_logger(output=None):
    """Tee stdout to ``output`` (a .txt/.log file, or a folder -> ``<folder>/log.txt``).

    An existing log file is never overwritten: a time stamp is appended to the new
    file's name instead (as Dassl does). Calling it again moves the tee to the new file.
    """
    if output is None:
        return
    if output.endswith(".txt") or output.endswith(".log"):
        fpath = output
    else:
        fpath = osp.join(output, "log.txt")
    if osp.exists(fpath):
        fpath += time.strftime("-%Y-%m-%d-%H-%M-%S")
    if isinstance(sys.stdout, Logger):
        sys.stdout.close()
        sys.stdout = sys.stdout.console
    sys.stdout = Logger(fpath)
