"""Splitting a benchmark into shards that score exactly as one job would."""

from __future__ import annotations


def shard_bounds(n_rows: int, shard: int, shards: int, batch_size: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of ``shard`` (0-based) among ``shards`` contiguous pieces of ``n_rows`` rows.

    Boundaries fall on multiples of ``batch_size``, so every batch holds the same rows whatever the number of shards
    and the gathered result is identical to an unsharded run. A shard may be empty when there are few batches.
    """
    if shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards!r}")
    if not 0 <= shard < shards:
        raise ValueError(f"shard must lie in [0, {shards - 1}], got {shard!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    batches = -(-n_rows // batch_size)
    per_shard = -(-batches // shards)
    start = min(n_rows, shard * per_shard * batch_size)
    stop = min(n_rows, (shard + 1) * per_shard * batch_size)
    return start, stop
