"""A real one-node SLURM cluster on loopback for tests: munged, slurmctld and slurmd.

Everything (configuration, key, socket, state, spool, logs) lives in one folder; the three
daemons run in the foreground as children of the test and are stopped by their process
ids, nothing else. Needs Debian's slurmctld, slurmd, slurm-client and munge packages and
root (as .ci/run provides).
"""
import os
import shutil
import socket
import subprocess
import time

COMMANDS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo")


class ClusterUnavailable(RuntimeError):
    """The cluster could not start here; the message says why."""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalSlurm:
    """``with LocalSlurm(folder) as env:`` runs sbatch/squeue with ``env`` (SLURM_CONF set)."""

    def __init__(self, folder):
        self.folder = os.path.abspath(folder)
        self.processes = []
        self.env = None

    def __enter__(self):
        missing = [d for d in COMMANDS if shutil.which(d) is None and not os.path.exists(f"/usr/sbin/{d}")]
        if missing:
            raise ClusterUnavailable(f"not installed: {', '.join(missing)} (apt-get install "
                                     "slurmctld slurmd slurm-client munge)")
        if os.geteuid() != 0:
            raise ClusterUnavailable("the one-node cluster runs its daemons as root")
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self.env

    def _path(self, *parts):
        return os.path.join(self.folder, *parts)

    def _start(self):
        for sub in ("munge", "state", "spool", "log"):
            os.makedirs(self._path(sub), exist_ok=True)
        os.chmod(self._path("munge"), 0o700)
        key = self._path("munge", "munge.key")
        with open(key, "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(key, 0o400)
        munge_socket = self._path("munge", "munge.socket")
        self._spawn(["munged", "-F", "--force", f"--key-file={key}", f"--socket={munge_socket}",
                     f"--pid-file={self._path('munge', 'munged.pid')}",
                     f"--log-file={self._path('log', 'munged.log')}",
                     f"--seed-file={self._path('munge', 'munged.seed')}"], "munged")
        self._wait(lambda: os.path.exists(munge_socket), "munged to open its socket", "munged.log")

        host = socket.gethostname().split(".")[0]
        conf = self._path("slurm.conf")
        with open(conf, "w") as f:
            f.write("\n".join([
                "ClusterName=fvgpttest", f"SlurmctldHost={host}(127.0.0.1)", "SlurmUser=root",
                "AuthType=auth/munge", f"AuthInfo=socket={munge_socket}",
                f"SlurmctldPort={_free_port()}", f"SlurmdPort={_free_port()}",
                f"StateSaveLocation={self._path('state')}", f"SlurmdSpoolDir={self._path('spool')}",
                f"SlurmctldPidFile={self._path('slurmctld.pid')}",
                f"SlurmdPidFile={self._path('slurmd.pid')}",
                f"SlurmctldLogFile={self._path('log', 'slurmctld.log')}",
                f"SlurmdLogFile={self._path('log', 'slurmd.log')}",
                "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none",
                "SchedulerType=sched/backfill", "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_CPU",  # a job takes one CPU, not the whole node
                "ReturnToService=2", "MpiDefault=none", "JobCompType=jobcomp/none",
                "SchedulerParameters=defer_batch=0", "MessageTimeout=30",
                f"NodeName={host} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} State=UNKNOWN",
                f"PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP",
            ]) + "\n")
        self.env = dict(os.environ, SLURM_CONF=conf)
        self._spawn(["slurmctld", "-D", "-f", conf], "slurmctld")
        self._spawn(["slurmd", "-D", "-f", conf], "slurmd")
        self._wait(self._node_idle, "the node to become idle in sinfo", "slurmctld.log")

    def _spawn(self, cmd, name):
        log = open(self._path("log", f"{name}.out"), "w")
        self.processes.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                               env=self.env))

    def _node_idle(self):
        out = subprocess.run(["sinfo", "-h", "-o", "%t"], env=self.env, capture_output=True, text=True)
        return out.returncode == 0 and out.stdout.strip() == "idle"

    def _wait(self, ready, what, log, timeout_s=60):
        start = time.time()
        while not ready():
            dead = [p.args[0] for p in self.processes if p.poll() is not None]
            if dead or time.time() - start > timeout_s:
                tail = ""
                for name in (log, f"{dead[0]}.out" if dead else log):
                    path = self._path("log", name)
                    if os.path.exists(path):
                        with open(path) as f:
                            tail += f"\n--- {name}:\n" + f.read()[-1500:]
                raise ClusterUnavailable(f"gave up waiting for {what}"
                                         + (f" ({', '.join(dead)} exited)" if dead else "") + tail)
            time.sleep(0.5)

    def __exit__(self, *exc):
        for process in reversed(self.processes):  # slurmd, slurmctld, munged
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.processes = []
