"""How a benchmark's official evaluation reads its answers (:class:`Convention`), apart from the official reading
itself (``scoring.official``), so that the benchmarks, read by jobs that load no model, need not import it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Convention:
    """How one benchmark's official evaluation reads and calibrates: ``read_top`` tokens read, and whether a
    single reference is normalised over the labels before ``+ 1e-4``. Each benchmark with an official reading holds
    its own (``Benchmark.official``, :mod:`lvlm_debias.benchmarks`)."""

    read_top: int
    normalise_single: bool
