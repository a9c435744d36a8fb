"""A one-node SLURM cluster on this machine, for tests/test_slurm.py (standard library only).

Debian's ``slurm-wlm`` and ``munge`` are installed with apt when missing (as root only). ``munged``, ``slurmctld``
and ``slurmd`` are started in the foreground as children of the test, so that they are stopped by their PIDs; daemons
that were already running are used and left running. The cluster has no accounting database (jobs are seen through
``squeue``/``scontrol`` for ``MinJobAge`` seconds after they end) and no GPUs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

SLURM_CONF = Path("/etc/slurm/slurm.conf")
PACKAGES = ("slurm-wlm", "munge")
DAEMONS = ("munged", "slurmctld", "slurmd")
PARTITION = "debug"


def running(name: str) -> list[int]:
    """PIDs of the processes whose command name is ``name`` (read from /proc)."""
    pids = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == name:
                pids.append(int(comm.parent.name))
        except OSError:  # the process ended while we looked
            continue
    return pids


def missing_programs() -> list[str]:
    return [p for p in ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol") if shutil.which(p) is None]


def install() -> str | None:
    """Install slurm-wlm and munge with apt when a program is missing; returns why the cluster cannot be had (None
    when it can)."""
    if not missing_programs():
        return None
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return f"SLURM is not installed ({', '.join(missing_programs())} missing) and apt-get is not usable as root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-q", *PACKAGES]
    if subprocess.run(command, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
        subprocess.run(command, env=env, capture_output=True)
    if missing_programs():
        return f"apt-get could not install {' '.join(PACKAGES)} ({', '.join(missing_programs())} still missing)"
    return None


def node_line(memory_mb: int) -> str:
    """This machine as a SLURM node, as ``slurmd -C`` sees it (name, CPUs, sockets, cores, threads), with
    ``memory_mb`` of its memory (at most all of it) and reached on 127.0.0.1."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout
    fields = dict(item.split("=", 1) for item in out.splitlines()[0].split())
    fields["RealMemory"] = str(min(memory_mb, int(fields["RealMemory"])))
    return " ".join(f"{k}={v}" for k, v in fields.items()) + " NodeAddr=127.0.0.1 State=UNKNOWN"


def slurm_conf(state_dir: Path, node: str, min_job_age: int, partition: str = PARTITION) -> str:
    """slurm.conf of a one-node cluster run as root: no accounting, no cgroups, finished jobs kept ``min_job_age``
    seconds (what ``squeue`` status queries need)."""
    name = node.split()[0].split("=", 1)[1]
    return "\n".join(
        [
            "ClusterName=lvlmtest",
            f"SlurmctldHost={name}(127.0.0.1)",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            f"StateSaveLocation={state_dir}/ctld",
            f"SlurmdSpoolDir={state_dir}/d",
            f"SlurmctldPidFile={state_dir}/slurmctld.pid",
            f"SlurmdPidFile={state_dir}/slurmd.pid",
            f"SlurmctldLogFile={state_dir}/slurmctld.log",
            f"SlurmdLogFile={state_dir}/slurmd.log",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "SchedulerType=sched/backfill",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "JobCompType=jobcomp/none",
            "MpiDefault=none",
            "ReturnToService=2",
            f"MinJobAge={min_job_age}",
            node,
            f"PartitionName={partition} Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
            "",
        ]
    )


@dataclass
class Cluster:
    """A running cluster: its default partition and the daemons this process started (empty when it found them
    running)."""

    partition: str
    state_dir: Path
    started: dict[str, subprocess.Popen] = field(default_factory=dict)


def _start(name: str, command: list[str], state_dir: Path, **kwargs) -> subprocess.Popen:
    with open(state_dir / f"{name}.out", "wb") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kwargs)


def _wait_for(check, seconds: float, what: str, state_dir: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in sorted(state_dir.glob("*.out")))
    raise RuntimeError(f"{what} within {seconds} s\n{logs}")


def _ok(command: list[str]) -> bool:
    return subprocess.run(command, capture_output=True).returncode == 0


def _default_partition() -> str:
    out = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, check=True).stdout.split()
    return next((p.rstrip("*") for p in out if p.endswith("*")), out[0] if out else PARTITION)


def stop(cluster: Cluster, timeout: float = 30) -> None:
    """Cancel the jobs left on a cluster this process started, then stop its daemons (SIGTERM, then SIGKILL),
    slurmd first, munged last."""
    if "slurmctld" in cluster.started:
        subprocess.run(["scancel", "--full", "--state=PENDING,RUNNING"], capture_output=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = subprocess.run(["squeue", "-h", "-o", "%T"], capture_output=True, text=True).stdout.split()
            if not {"RUNNING", "PENDING", "COMPLETING", "CONFIGURING"} & set(states):
                break
            time.sleep(0.5)
    for name in ("slurmd", "slurmctld", "munged"):
        process = cluster.started.get(name)
        if process is None or process.poll() is not None:
            continue
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def one_node_cluster(state_dir: Path, memory_mb: int = 8000, min_job_age: int = 3600) -> Iterator[Cluster]:
    """A running one-node cluster: the one already running here, or one started from ``state_dir`` (slurm.conf at
    /etc/slurm/slurm.conf, the previous file put back afterwards) and stopped on exit."""
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    already = {name: running(name) for name in DAEMONS}
    if already["slurmctld"] and already["slurmd"]:
        yield Cluster(_default_partition(), state_dir)
        return
    cluster = Cluster(PARTITION, state_dir)
    previous_conf = SLURM_CONF.read_bytes() if SLURM_CONF.exists() else None
    try:
        if not already["munged"]:
            run_dir = Path("/run/munge")
            run_dir.mkdir(parents=True, exist_ok=True)
            shutil.chown(run_dir, "munge", "munge")
            cluster.started["munged"] = _start("munged", ["munged", "-F"], state_dir, user="munge", group="munge")
            _wait_for(lambda: _ok(["munge", "-n"]), 30, "munged did not answer", state_dir)
        if not already["slurmctld"]:
            for sub in ("ctld", "d"):
                (state_dir / sub).mkdir(parents=True, exist_ok=True)
            SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
            SLURM_CONF.write_text(slurm_conf(state_dir, node_line(memory_mb), min_job_age))
            cluster.started["slurmctld"] = _start("slurmctld", ["slurmctld", "-D"], state_dir)
            _wait_for(lambda: _ok(["scontrol", "ping"]), 60, "slurmctld did not answer", state_dir)
        if not already["slurmd"]:
            cluster.started["slurmd"] = _start("slurmd", ["slurmd", "-D"], state_dir)

        def idle() -> bool:
            states = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True).stdout.split()
            return "idle" in states

        _wait_for(idle, 60, "the node did not become idle", state_dir)
        cluster.partition = _default_partition()
        yield cluster
    finally:
        stop(cluster)
        if "slurmctld" in cluster.started:
            if previous_conf is None:
                SLURM_CONF.unlink(missing_ok=True)
            else:
                SLURM_CONF.write_bytes(previous_conf)


def jobs_of(job_name: str) -> list[dict[str, str]]:
    """Every job named ``job_name`` that slurmctld still knows, as ``scontrol show job`` fields (JobState, NumCPUs,
    MinMemoryNode, TresPerJob, Comment, ...)."""
    out = subprocess.run(["scontrol", "-o", "show", "job"], capture_output=True, text=True, check=True).stdout
    jobs = []
    for line in out.splitlines():
        fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
        if fields.get("JobName") == job_name:
            jobs.append(fields)
    return jobs
