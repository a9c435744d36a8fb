"""MMMU (Yue et al., 2024): multiple-choice questions whose labels are the option letters; accuracy over all
questions, read by the option-letter parser.

Its hub format ``mmmu`` (``MMMU/MMMU``, ``<Subject>/validation-*.parquet``) has the columns ``id``, ``question``,
``options`` (a Python list literal), ``answer`` (a letter), ``question_type``, ``image_1`` ... ``image_7``.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lvlm_debias.benchmarks.base import AnswerParser, Benchmark, accuracy
from lvlm_debias.data.convert import MMMU_SUFFIX, Converter, image_bytes
from lvlm_debias.metrics.parse import parse_choice
from lvlm_debias.world.tasks import build_mmmu

LETTERS: dict[str, list[str]] = {letter: [letter] for letter in "ABCD"}
#: the name of the option-letter parser, which no config chooses
LETTER_PARSER = "letter"


def letter_parser(name: str, labels: Sequence[str], parser: str | None) -> AnswerParser:
    """The option-letter parser ("other" when no single letter of ``labels`` is found), which ``parser`` None or
    "letter" asks for."""
    if parser not in (None, LETTER_PARSER):
        raise ValueError(f"benchmark {name!r} is read by the option-letter parser only, not {parser!r}")
    letters = list(labels)
    return AnswerParser(LETTER_PARSER, lambda text, label: parse_choice(text, letters) or "other")


def build(annotations: list[dict], split: str, settings: Mapping, seed: int) -> list[dict]:
    """ShapesWorld's MMMU questions (``benchmarks.mmmu``: ``n_images``, ``subjects``)."""
    return build_mmmu(annotations, seed, settings.get("n_images"), tuple(settings["subjects"]))


def metrics(answers: pd.DataFrame) -> dict[str, float]:
    """Accuracy over all questions."""
    return {"accuracy": accuracy(list(answers["label"]), list(answers["prediction"]))}


def expected(label_dist: np.ndarray, gold: np.ndarray, answers: pd.DataFrame) -> dict[str, float]:
    """Nothing beyond the accuracy."""
    return {}


def records(rows: pd.DataFrame, split: str, letters: str = "ABCD") -> tuple[list[dict], dict]:
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


MMMU = Benchmark(
    name="mmmu",
    splits=("validation",),
    labels=LETTERS,
    subset="subject",
    headline="accuracy",
    shown=("accuracy",),
    build=build,
    metrics=metrics,
    expected=expected,
    parser=letter_parser,
    converter=Converter("mmmu", records, subset="subject", splits=("validation",)),
)
