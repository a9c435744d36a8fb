"""Reading a benchmark's question file with every record checked before any model work.

A record needs ``question_id``, ``image``, ``text`` and ``label`` (one of the benchmark's labels), a question id no
other record has, and an image file that opens. A bad record stops the job with a message naming the file, the record
and what is wrong; with ``skip_bad`` it is left out instead and listed, so the count can be reported.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image

from lvlm_debias.data.jsonl import read_jsonl
from lvlm_debias.tables import write_json

REQUIRED = ("question_id", "image", "text", "label")


@dataclass(frozen=True)
class BadRecord:
    """A record left out: its 1-based position in the file, its question id (if any) and why."""

    record: int
    question_id: object
    reason: str


def _problem(
    record: Mapping, image_root: Path, labels: Sequence[str] | None, seen: set, opened: dict[Path, str | None]
) -> str | None:
    missing = [field for field in REQUIRED if field not in record or record[field] in (None, "")]
    if missing:
        return f"missing field(s) {missing}"
    if labels is not None and record["label"] not in labels:
        return f"label {record['label']!r} is not one of {list(labels)}"
    if record["question_id"] in seen:
        return f"question_id {record['question_id']!r} appears twice"
    path = image_root / str(record["image"])
    if path not in opened:  # an image many questions ask about is opened once
        try:
            with Image.open(path) as image:
                image.verify()
            opened[path] = None
        except (OSError, ValueError, SyntaxError) as err:
            opened[path] = f"image {path} cannot be read ({type(err).__name__}: {err})"
    return opened[path]


def load_questions(
    path: str | Path,
    image_root: str | Path,
    labels: Sequence[str] | None = None,
    *,
    skip_bad: bool = False,
) -> tuple[list[dict], list[BadRecord]]:
    """The good records of the question file at ``path`` and the bad ones left out (always empty unless
    ``skip_bad``). Raises ``ValueError`` naming the file and record on the first bad one, or when no good record is
    left."""
    image_root = Path(image_root)
    good, bad, seen, opened = [], [], set(), {}
    for number, record in enumerate(read_jsonl(path), start=1):
        problem = _problem(record, image_root, labels, seen, opened)
        if problem is None:
            good.append(record)
            seen.add(record["question_id"])
            continue
        if not skip_bad:
            raise ValueError(
                f"{path}, record {number} (question_id {record.get('question_id')!r}): {problem}. "
                "Fix the file, or set scoring.skip_bad_records: true to leave such records out and count them."
            )
        bad.append(BadRecord(number, record.get("question_id"), problem))
    if not good:
        raise ValueError(f"{path}: none of its {len(bad)} records is usable; first problem: {bad[0].reason}")
    return good, bad


def write_skipped(path: str | Path, source: str | Path, bad: Sequence[BadRecord]) -> None:
    """The metadata of a table built from ``source``: how many records were skipped and which, as JSON written
    atomically at ``path``."""
    data = {"source": str(source), "skipped_records": len(bad), "skipped": [asdict(b) for b in bad]}
    write_json(data, path, default=str)


def read_skipped(path: str | Path) -> int:
    """The number of skipped records in a metadata file written by :func:`write_skipped`."""
    return int(json.loads(Path(path).read_text())["skipped_records"])


def load_splits(
    paths: Sequence[str | Path],
    splits: Sequence[str],
    image_root: str | Path,
    labels: Sequence[str] | None = None,
    *,
    skip_bad: bool = False,
) -> tuple[dict[str, list[dict]], dict[str, list[BadRecord]]]:
    """:func:`load_questions` of each split's question file (``paths`` in ``splits`` order): good records and bad
    ones per split."""
    if len(paths) != len(splits):
        raise ValueError(f"{len(paths)} question files for {len(splits)} splits {list(splits)}")
    good, bad = {}, {}
    for split, path in zip(splits, paths, strict=True):
        good[split], bad[split] = load_questions(path, image_root, labels, skip_bad=skip_bad)
    return good, bad
