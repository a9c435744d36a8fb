"""The report's per-sample browser: a few questions with their image, the answer, and the label probabilities under
every probe."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
from PIL import Image

from lvlm_debias.report.html import data_uri_bytes


def pick_samples(naive: pd.DataFrame, n: int) -> list[int]:
    """Question ids of up to ``n`` samples, half that naive gets wrong and half it gets right (first in question
    order), so the browser shows both; ``naive`` has ``question_id``, ``label`` and ``prediction``."""
    if n < 0:
        raise ValueError(f"the number of samples must be >= 0, got {n!r}")
    wrong = naive[naive["prediction"] != naive["label"]]["question_id"].tolist()
    right = naive[naive["prediction"] == naive["label"]]["question_id"].tolist()
    take_wrong = min(len(wrong), n - min(len(right), n // 2))
    picked = set(wrong[:take_wrong] + right[: n - take_wrong])
    return [q for q in naive["question_id"] if q in picked]


def thumbnail(path: Path, size: int = 160) -> str:
    """The image at ``path`` scaled to ``size`` pixels wide (nearest neighbour keeps small images sharp), as a PNG
    data URI; a missing image raises an error naming it."""
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            height = max(1, round(image.height * size / image.width))
            image = image.resize((size, height), Image.Resampling.NEAREST)
    except OSError as err:
        raise ValueError(f"cannot read the sample image {path}: {err}") from err
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return data_uri_bytes(buffer.getvalue())


def sample_cards(
    label_probs: pd.DataFrame,
    questions: Sequence[Mapping],
    image_root: str | Path,
    labels: Sequence[str],
    n: int = 8,
) -> list[dict]:
    """One card per picked question: id, question text, label, the naive answer, the image (data URI), and per probe
    the label probabilities normalised over the labels with the argmax. Text is left raw: the template escapes it."""
    columns = [f"p_{label}" for label in labels]
    missing = [c for c in ["question_id", "probe", "label", *columns] if c not in label_probs.columns]
    if missing:
        raise ValueError(f"label probabilities lack columns {missing}")
    probs = label_probs.copy()
    total = probs[columns].sum(axis=1).where(lambda s: s > 0, 1.0)
    probs[columns] = probs[columns].div(total, axis=0)
    probs["prediction"] = [labels[i] for i in probs[columns].to_numpy().argmax(axis=1)]
    naive = probs[probs["probe"] == "naive"]
    by_id = {q["question_id"]: q for q in questions}
    cards = []
    for qid in pick_samples(naive, n):
        question = by_id.get(qid)
        if question is None:
            raise ValueError(f"question {qid!r} of the label probabilities is not in the question file")
        rows = probs[probs["question_id"] == qid]
        cards.append(
            {
                "question_id": str(qid),
                "text": str(question["text"]),
                "label": str(question["label"]),
                "answer": str(rows.loc[rows["probe"] == "naive", "prediction"].iloc[0]),
                "image": thumbnail(Path(image_root) / question["image"]),
                "labels": list(labels),
                "probes": [
                    {
                        "probe": str(r["probe"]),
                        "probs": [f"{r[c]:.3f}" for c in columns],
                        "prediction": str(r["prediction"]),
                    }
                    for _, r in rows.iterrows()
                ],
            }
        )
    return cards


def caption_samples(marked: Sequence[Mapping], image_root: str | Path) -> list[dict]:
    """The side-by-side captions of ``analysis.generation.marked_captions`` with each image as a thumbnail data URI
    (the image path kept too), ready for JSON and the report; segments stay raw text (the report escapes them)."""
    return [
        {
            "image": str(m["image"]),
            "thumbnail": thumbnail(Path(image_root) / m["image"], 96),
            "objects": list(m["objects"]),
            "captions": {
                method: [[text, mark] for text, mark in segments] for method, segments in m["captions"].items()
            },
        }
        for m in marked
    ]


def open_samples(rows: Sequence[Mapping], image_root: str | Path) -> list[dict]:
    """The side-by-side open-ended answers of ``analysis.open_ended.side_by_side`` (one setting) with each image as a
    thumbnail data URI; texts stay raw (the report escapes them)."""
    return [{**row, "thumbnail": thumbnail(Path(image_root) / row["image"], 96)} for row in rows]
