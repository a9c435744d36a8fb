"""POPE question files as the official code's upstream (VCD, ``experiments/data/POPE/<source>/``) ships them.

One file per source and split, 3000 questions about 500 images: ``question_id`` (from 1), ``image`` (a file name:
``COCO_val2014_000000461751.jpg`` for COCO and A-OKVQA, ``2405722.jpg`` for GQA), ``text`` ("Is there a <object> in
the image?") and ``label`` (yes/no). The repository holds both layouts under the same ``.json`` names over its
history: JSON Lines (one object per line, what VCD's evaluation script reads) and an indented JSON list. Both are
read.

:func:`vcd_pope_records` turns them into the records the hub's ``pope`` format gives
(:mod:`lvlm_debias.benchmarks.pope`), so POPE's metrics and every later step read them unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from lvlm_debias.data.convert import IMAGES, pope_object

FIELDS = ("question_id", "image", "text", "label")
LABELS = ("yes", "no")


def parse_vcd_questions(text: str, source: str) -> list[dict]:
    """The question objects of a VCD POPE file's ``text``: a JSON list, or JSON Lines (blank lines skipped).

    Raises ``ValueError`` naming ``source`` and the line (JSON Lines) when the text is not JSON, an item is not an
    object, or the file holds no question.
    """
    body = text.lstrip("\ufeff").strip()
    if body.startswith("["):
        try:
            items = json.loads(body)
        except json.JSONDecodeError as err:
            raise ValueError(f"{source}: not a JSON list ({err.msg}, line {err.lineno})") from err
        where = [f"item {k + 1}" for k in range(len(items))]
    else:
        items, where = [], []
        for number, line in enumerate(body.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"{source}, line {number}: invalid JSON ({err.msg})") from err
            where.append(f"line {number}")
    if not items:
        raise ValueError(f"{source}: no question in the file")
    for item, place in zip(items, where, strict=True):
        if not isinstance(item, dict):
            raise ValueError(f"{source}, {place}: expected a JSON object, got {type(item).__name__}")
        check_question(item, f"{source}, {place}")
    return items


def check_question(item: dict, where: str) -> None:
    """Raise ``ValueError`` naming ``where`` when a VCD question lacks a field, has a label other than yes/no, or an
    image that is not a plain file name."""
    missing = [field for field in FIELDS if field not in item]
    if missing:
        raise ValueError(f"{where}: missing field(s) {', '.join(missing)}")
    label = str(item["label"]).strip().lower()
    if label not in LABELS:
        raise ValueError(f"{where}: label {item['label']!r} is neither yes nor no")
    image = str(item["image"])
    if PurePosixPath(image).name != image or image in ("", ".", "..") or "\\" in image:
        raise ValueError(f"{where}: image {image!r} is not a plain file name")


def vcd_pope_records(questions: Sequence[dict], split: str) -> list[dict]:
    """VCD questions -> the ``pope`` format's records, in file order: ``question_id`` counting from 0, ``image`` the
    path ``images/<file name>`` under the dataset folder, ``source_id`` the file's own id, ``text``, ``label``
    (yes/no, lower case), ``split``, ``object`` asked about, ``image_source`` (the file name without extension) and
    ``subset`` (the split)."""
    out = []
    for number, item in enumerate(questions):
        text = str(item["text"]).strip()
        image = str(item["image"])
        out.append(
            {
                "question_id": number,
                "image": f"{IMAGES}/{image}",
                "source_id": str(item["question_id"]),
                "text": text,
                "label": str(item["label"]).strip().lower(),
                "split": split,
                "object": pope_object(text),
                "image_source": Path(image).stem,
                "subset": split,
            }
        )
    return out


def image_names(questions: Sequence[dict]) -> list[str]:
    """The distinct image file names the questions ask about, sorted."""
    return sorted({str(item["image"]) for item in questions})
