"""Benchmarks downloaded from the hub (parquet files with embedded images) as the project's question files.

Each format turns the rows of its parquet files into question records of the same JSONL schema the ShapesWorld
writes (``question_id``, ``image``, ``text``, ``label``, ``subset`` and the benchmark's own fields; ``question_id``
counts from 0 in file order, as the ShapesWorld's does, and ``source_id`` keeps the source's id); images are
written once under the dataset's folder, named by their content's sha256, so splits that share an image share the
file. Each format is a :class:`Converter`, defined with its benchmark (``lvlm_debias.benchmarks.pope``, ``mme``,
``mmmu``, ``llava_bench``, which name their source's columns); this module holds what they share.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from PIL import Image

from lvlm_debias.atomic import atomic_path

#: LLaVA's MMMU prompt suffix, after the lettered options.
MMMU_SUFFIX = "Answer with the option's letter from the given choices directly."

IMAGES = "images"
LETTERS = "ABCDEFGHI"


def image_bytes(cell: object) -> bytes:
    """The encoded bytes of a parquet image cell: the datasets library's ``{"bytes", "path"}`` struct, or bytes."""
    if isinstance(cell, Mapping):
        cell = cell.get("bytes")
    if not isinstance(cell, bytes | bytearray) or not cell:
        raise ValueError(f"not an embedded image: {type(cell).__name__}")
    return bytes(cell)


def save_image(data: bytes, root: str | Path) -> str:
    """Write encoded image ``data`` under ``root/images/`` as ``<sha256[:20]>.<format>`` (atomically; kept when
    already there) and return that path relative to ``root``."""
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
        fmt = (image.format or "bin").lower()
    ext = {"jpeg": "jpg"}.get(fmt, fmt)
    name = f"{IMAGES}/{hashlib.sha256(data).hexdigest()[:20]}.{ext}"
    path = Path(root) / name
    if not (path.is_file() and path.stat().st_size == len(data)):
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    return name


def split_files(files: Sequence[str], pattern: str, split: str) -> list[str]:
    """The files of ``split``: those matching ``pattern`` with ``{split}`` filled in (fnmatch), sorted."""
    wanted = pattern.format(split=split)
    return sorted(f for f in files if fnmatch.fnmatch(f, wanted))


def read_rows(root: str | Path, files: Sequence[str]) -> pd.DataFrame:
    """All rows of the parquet ``files`` under ``root``, with a ``source_file`` column naming each row's file."""
    if not files:
        raise ValueError(f"no parquet file to read under {root}")
    frames = [pd.read_parquet(Path(root) / f).assign(source_file=f) for f in files]
    return pd.concat(frames, ignore_index=True)


def yes_no_label(answer: object) -> str:
    """A source's yes/no answer as a label: "Yes" -> "yes"."""
    return str(answer).strip().lower()


def pope_object(question: str) -> str:
    """The object a POPE question asks about: "Is there a(n) <object> in the image?" -> "<object>"."""
    return question.removeprefix("Is there a ").removeprefix("Is there an ").removesuffix(" in the image?")


@dataclass(frozen=True)
class Converter:
    """How the parquet rows of one dataset format become question records: ``name`` (the ``datasets.<name>.format``
    that selects it), ``records(rows, split)`` -> (records with the encoded ``image`` bytes, the rows left out by
    reason), the record field that names each record's subset (``subset``), the splits made when the config names
    none (``splits``), and whether the labels are the reference answers of an open-ended benchmark
    (``open_ended``). The formats are the benchmarks' (:data:`lvlm_debias.benchmarks.FORMATS`)."""

    name: str
    records: Callable[[pd.DataFrame, str], tuple[list[dict], dict]]
    subset: str
    splits: tuple[str, ...]
    open_ended: bool = False


def convert_split(
    converter: Converter, snapshot: str | Path, files: Sequence[str], split: str, root: str | Path
) -> tuple[list[dict], dict]:
    """The question records of ``split`` from the snapshot's ``files`` (relative paths), images saved under
    ``root``; and the records left out, by reason. Raises ``ValueError`` naming the format, split and files when
    no record results."""
    records, skipped = converter.records(read_rows(snapshot, files), split)
    if not records:
        raise ValueError(f"{converter.name}/{split}: no question in {list(files)} (left out: {skipped})")
    out = []
    for number, record in enumerate(records):
        image = save_image(record.pop("image"), root)
        out.append({"question_id": number, "image": image, **record, "subset": record[converter.subset]})
    return out, skipped


def write_hub_questions(
    converter: Converter,
    pattern: str,
    hub_manifest: Mapping,
    split: str,
    questions_path: str | Path,
    manifest_path: str | Path,
    root: str | Path,
) -> dict:
    """Convert ``split`` of a downloaded dataset (its download manifest ``hub_manifest``; ``pattern`` selects the
    split's files) into the question file at ``questions_path`` with images under ``root``; then write, last, a
    manifest of every file written (size and sha256), the source (repo, revision, commit) and the records left out.
    Returns that manifest."""
    from lvlm_debias.data.jsonl import write_jsonl
    from lvlm_debias.data.manifest import file_entries, write_manifest

    files = split_files([entry["path"] for entry in hub_manifest["files"]], pattern, split)
    if not files:
        raise ValueError(
            f"{hub_manifest['repo']}: no downloaded file matches {pattern.format(split=split)!r} for split {split!r}"
        )
    records, skipped = convert_split(converter, hub_manifest["snapshot"], files, split, root)
    write_jsonl(questions_path, records)
    root = Path(root)
    written = [Path(questions_path).resolve().relative_to(root.resolve()), *sorted({r["image"] for r in records})]
    manifest = {
        "source": {key: hub_manifest[key] for key in ("repo", "revision", "commit")} | {"files": files},
        "format": converter.name,
        "split": split,
        "questions": len(records),
        "skipped": skipped,
        "files": file_entries(root, written),
    }
    write_manifest(manifest_path, manifest)
    return manifest
