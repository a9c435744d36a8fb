"""Measuring wall time and the peak memory of a whole process tree (a Snakemake run and every job it starts)."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import psutil

T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """``fn()``'s result and its wall time in seconds (``time.perf_counter``)."""
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def tree_rss(pid: int) -> int:
    """Resident memory in bytes of process ``pid`` and all its descendants now (0 once it has exited)."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


class PeakTreeRss:
    """Samples ``tree_rss(pid)`` every ``interval`` seconds in a background thread; ``peak`` is the largest sum
    seen. Sampling misses peaks shorter than ``interval``, so it is a lower bound on the true peak."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be > 0, got {interval!r}")
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakTreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass(frozen=True)
class RunMeasure:
    """A finished command: exit status, wall seconds and the sampled peak resident memory of its process tree."""

    returncode: int
    seconds: float
    peak_rss_mb: float


def run_measured(
    command: Sequence[str],
    *,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    log: str | Path | None = None,
    interval: float = 0.2,
) -> RunMeasure:
    """Run ``command`` to its end (output to ``log`` or inherited), measuring wall time and peak tree RSS."""
    out = open(log, "w") if log else None  # noqa: SIM115 - closed below
    try:
        start = time.perf_counter()
        process = subprocess.Popen(
            list(command), cwd=cwd, env=dict(env) if env is not None else None, stdout=out, stderr=out
        )
        with PeakTreeRss(process.pid, interval) as peak:
            returncode = process.wait()
        seconds = time.perf_counter() - start
    finally:
        if out:
            out.close()
    return RunMeasure(returncode, seconds, peak.peak / 2**20)
