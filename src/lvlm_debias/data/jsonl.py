"""Read and write JSON Lines files: one JSON object per line."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence

from lvlm_debias.atomic import atomic_path


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Return the JSON objects in ``path``, one per non-blank line.

    Raises ``ValueError`` naming the file and the 1-based line number when a
    line is not valid JSON or not a JSON object, and when the file holds no
    records at all.
    """
    records: list[dict] = []
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}, line {line_number}: invalid JSON ({error.msg})") from error
            if not isinstance(record, dict):
                raise ValueError(f"{path}, line {line_number}: expected a JSON object, got {type(record).__name__}")
            records.append(record)
    if not records:
        raise ValueError(f"{path} is empty: it holds no JSON records")
    return records


def write_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> None:
    """Write ``records`` to ``path``, one compact JSON object per line.

    The file is written to a temporary file in the same directory and then moved
    into place with ``os.replace``, so readers never see a half-written file.
    Parent directories are created; keys keep their insertion order.
    """
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
            handle.write("\n")


def require_fields(record: dict, fields: Sequence[str], source: str, index: int) -> None:
    """Raise ``ValueError`` naming ``source``, ``index`` and the missing keys if any of ``fields`` is absent."""
    missing = [field for field in fields if field not in record]
    if missing:
        raise ValueError(f"{source}: record {index} is missing field(s) {', '.join(missing)}")
