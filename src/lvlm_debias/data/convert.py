"""Benchmarks downloaded from the hub (parquet files with embedded images) as the project's question files.

Each format turns the rows of its parquet files into question records of the same JSONL schema the ShapesWorld
writes (``question_id``, ``image``, ``text``, ``label``, ``subset`` and the benchmark's own fields; ``question_id``
counts from 0 in file order, as the ShapesWorld's does, and ``source_id`` keeps the source's id); images are
written once under the dataset's folder, named by their content's sha256, so splits that share an image share the
file. The sources and their columns (as the lmms-eval tasks read them):

- ``pope`` (``lmms-lab/POPE``, config ``Full``: ``Full/{split}-*.parquet``): ``question_id``, ``question``,
  ``answer`` (yes/no), ``image``, ``image_source``, ``category``. COCO val2014 only: 3 x 3000 questions.
- ``mme`` (``lmms-lab/MME``, ``data/test-*.parquet``): ``question_id`` (``<subtask>/<file>``), ``image``,
  ``question``, ``answer`` (Yes/No), ``category`` (the subtask). 2374 questions, two per image and subtask.
- ``mmmu`` (``MMMU/MMMU``, ``<Subject>/validation-*.parquet``): ``id``, ``question``, ``options`` (a Python list
  literal), ``answer`` (a letter), ``question_type``, ``image_1`` ... ``image_7``.
- ``llava_bench`` (``lmms-lab/llava-bench-in-the-wild``, ``data/*.parquet``): ``question_id``, ``question``,
  ``image``, ``caption``, ``gpt_answer`` (the reference answer), ``category``.
"""

from __future__ import annotations

import ast
import fnmatch
import hashlib
import io
from collections.abc import Callable, Mapping, Sequence
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


def _yes_no(answer: object) -> str:
    return str(answer).strip().lower()


def pope_object(question: str) -> str:
    """The object a POPE question asks about: "Is there a(n) <object> in the image?" -> "<object>"."""
    return question.removeprefix("Is there a ").removeprefix("Is there an ").removesuffix(" in the image?")


def pope_records(rows: pd.DataFrame, split: str) -> tuple[list[dict], dict]:
    """POPE rows -> records: ``text`` the question, ``label`` yes/no, ``subset`` the split, ``object`` asked about."""
    out = []
    for row in rows.itertuples(index=False):
        question = str(row.question).strip()
        name = pope_object(question)
        out.append(
            {
                "source_id": str(row.question_id),
                "image": image_bytes(row.image),
                "text": question,
                "label": _yes_no(row.answer),
                "split": split,
                "object": name,
                "image_source": str(getattr(row, "image_source", "")),
            }
        )
    return out, {}


def mme_records(rows: pd.DataFrame, split: str) -> tuple[list[dict], dict]:
    """MME rows -> records: ``subtask`` the category, ``label`` yes/no, ``pair`` grouping an image's two questions by
    its ``question_id`` (the image id, e.g. ``code_reasoning/0020.png``), which acc+ pairs them by: two image ids may
    hold identical bytes, so share one stored file."""
    out = []
    for row in rows.itertuples(index=False):
        out.append(
            {
                "source_id": f"{row.question_id}/{_yes_no(row.answer)}",
                "image": image_bytes(row.image),
                "text": str(row.question).strip(),
                "label": _yes_no(row.answer),
                "subtask": str(row.category),
                "pair": f"{row.question_id}:{row.category}",
            }
        )
    return out, {}


def mmmu_records(rows: pd.DataFrame, split: str, letters: str = "ABCD") -> tuple[list[dict], dict]:
    """MMMU rows -> records: multiple-choice questions with at most ``len(letters)`` options; ``text`` the question,
    ``{letter}. {option}`` lines and LLaVA's MMMU instruction; ``label`` the letter; ``subject`` the file's folder.

    Left out, and counted in the returned dict: open questions, and questions with more options than ``letters``
    (the benchmark's label set). A question with several images keeps its first (``extra_images`` says how many
    more it had).
    """
    out, skipped = [], {"open question": 0, f"more than {len(letters)} options": 0}
    for row in rows.itertuples(index=False):
        if str(getattr(row, "question_type", "multiple-choice")) != "multiple-choice":
            skipped["open question"] += 1
            continue
        options = ast.literal_eval(row.options) if isinstance(row.options, str) else list(row.options)
        if len(options) > len(letters):
            skipped[f"more than {len(letters)} options"] += 1
            continue
        images = [getattr(row, f"image_{k}", None) for k in range(1, 8)]
        images = [cell for cell in images if cell is not None and not (isinstance(cell, float) and pd.isna(cell))]
        lines = [f"{letter}. {option}" for letter, option in zip(letters, options, strict=False)]
        out.append(
            {
                "source_id": str(row.id),
                "image": image_bytes(images[0]),
                "text": "\n".join([str(row.question).strip(), *lines, MMMU_SUFFIX]),
                "label": str(row.answer).strip(),
                "subject": Path(row.source_file).parent.name or "all",
                "options": [str(o) for o in options],
                "extra_images": len(images) - 1,
            }
        )
    return out, {k: v for k, v in skipped.items() if v}


def llava_bench_records(rows: pd.DataFrame, split: str) -> tuple[list[dict], dict]:
    """LLaVA-Bench (in the wild) rows -> records: open-ended, ``label`` the GPT-4 reference answer, ``subset`` the
    category (conv, detail, complex), ``caption`` the image description the judge reads."""
    out = []
    for row in rows.itertuples(index=False):
        caption = row.caption if isinstance(row.caption, str) else "\n".join(map(str, row.caption))
        out.append(
            {
                "source_id": str(row.question_id),
                "image": image_bytes(row.image),
                "text": str(row.question).strip(),
                "label": str(row.gpt_answer),
                "category": str(row.category),
                "caption": caption,
            }
        )
    return out, {}


FORMATS: dict[str, Callable[[pd.DataFrame, str], tuple[list[dict], dict]]] = {
    "pope": pope_records,
    "mme": mme_records,
    "mmmu": mmmu_records,
    "llava_bench": llava_bench_records,
}
#: the field naming each record's subset (the POPE split, the MME subtask, the MMMU subject, the bench category)
SUBSET_FIELD = {"pope": "split", "mme": "subtask", "mmmu": "subject", "llava_bench": "category"}
#: the splits a format has when the config names none
DEFAULT_SPLITS = {
    "pope": ("random", "popular", "adversarial"),
    "mme": ("all",),
    "mmmu": ("validation",),
    "llava_bench": ("all",),
}


def convert_split(fmt: str, snapshot: str | Path, files: Sequence[str], split: str, root: str | Path) -> tuple[
    list[dict], dict
]:  # fmt: skip
    """The question records of ``split`` from the snapshot's ``files`` (relative paths), images saved under
    ``root``; and the records left out, by reason. Raises ``ValueError`` naming the format, split and files when
    no record results."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown dataset format {fmt!r}; known formats: {list(FORMATS)}")
    records, skipped = FORMATS[fmt](read_rows(snapshot, files), split)
    if not records:
        raise ValueError(f"{fmt}/{split}: no question in {list(files)} (left out: {skipped})")
    out = []
    for number, record in enumerate(records):
        image = save_image(record.pop("image"), root)
        out.append({"question_id": number, "image": image, **record, "subset": record[SUBSET_FIELD[fmt]]})
    return out, skipped


def write_hub_questions(
    fmt: str,
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
    records, skipped = convert_split(fmt, hub_manifest["snapshot"], files, split, root)
    write_jsonl(questions_path, records)
    root = Path(root)
    written = [Path(questions_path).resolve().relative_to(root.resolve()), *sorted({r["image"] for r in records})]
    manifest = {
        "source": {key: hub_manifest[key] for key in ("repo", "revision", "commit")} | {"files": files},
        "format": fmt,
        "split": split,
        "questions": len(records),
        "skipped": skipped,
        "files": file_entries(root, written),
    }
    write_manifest(manifest_path, manifest)
    return manifest
