"""The classification benchmarks, one module each, and their registry :data:`BENCHMARKS`.

One registry serves the ShapesWorld tasks and converted real benchmarks alike (same JSONL schema): POPE
(:mod:`~lvlm_debias.benchmarks.pope`: yes/no existence, three negative-sampling splits; also registered as its three
sources pope_coco, pope_aokvqa, pope_gqa), MME (:mod:`~lvlm_debias.benchmarks.mme`: yes/no, two questions per image
and subtask) and MMMU (:mod:`~lvlm_debias.benchmarks.mmmu`: multiple choice, the option letters are the labels).
Each module defines one :class:`~lvlm_debias.benchmarks.base.Benchmark` carrying its behaviour; the functions here
read it by the benchmark's registered name. :data:`FORMATS` holds the dataset formats downloaded data is converted
with: the benchmarks' and LLaVA-Bench's (:mod:`~lvlm_debias.benchmarks.llava_bench`, open-ended).

A new benchmark: docs/extending.md, "A new benchmark".
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from lvlm_debias.benchmarks import pope
from lvlm_debias.benchmarks.base import AnswerParser, Benchmark
from lvlm_debias.benchmarks.llava_bench import LLAVA_BENCH
from lvlm_debias.benchmarks.mme import MME, MME_SOURCES, mme_groups, mme_subsets
from lvlm_debias.benchmarks.mmmu import LETTER_PARSER, LETTERS, MMMU
from lvlm_debias.data.convert import Converter
from lvlm_debias.decoding.sampling import expected_accuracy
from lvlm_debias.metrics.mmmu import accuracy_by_subject
from lvlm_debias.scoring.convention import Convention

__all__ = [
    "BENCHMARKS",
    "FORMATS",
    "LETTERS",
    "LETTER_PARSER",
    "MME_SOURCES",
    "AnswerParser",
    "Benchmark",
    "answer_parser",
    "benchmark",
    "build_questions",
    "converter",
    "expected_metrics",
    "metrics",
    "mme_groups",
    "mme_subsets",
    "of_family",
    "official_convention",
    "subset_accuracy",
]

#: registered name -> definition: the names config/schema.yaml's ``benchmarks`` holds, in its order (the report's)
BENCHMARKS: dict[str, Benchmark] = {
    "pope": pope.POPE,
    "mme": MME,
    "mmmu": MMMU,
    **{name: pope.POPE for name in pope.SOURCES},
}
#: dataset format (``datasets.<name>.format``) -> its converter
FORMATS: dict[str, Converter] = {
    c.name: c for c in (*dict.fromkeys(b.converter for b in BENCHMARKS.values() if b.converter), LLAVA_BENCH)
}


def benchmark(name: str) -> Benchmark:
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; known benchmarks: {list(BENCHMARKS)}")
    return BENCHMARKS[name]


def of_family(name: str, family: str) -> bool:
    """Whether ``name`` is a registered benchmark of ``family`` (pope, mme, mmmu): e.g. pope_gqa is POPE."""
    return name in BENCHMARKS and BENCHMARKS[name].family == family


def converter(fmt: str) -> Converter:
    """The converter of dataset format ``fmt``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown dataset format {fmt!r}; known formats: {list(FORMATS)}")
    return FORMATS[fmt]


def official_convention(name: str) -> Convention:
    """How the official code reads benchmark ``name`` (POPE and MME; MMMU has no official reading)."""
    convention = benchmark(name).official
    if convention is None:
        with_one = [n for n, b in BENCHMARKS.items() if b.official is not None]
        raise ValueError(f"benchmark {name!r} has no official reading; benchmarks with one: {with_one}")
    return convention


def build_questions(name: str, annotations: list[dict], split: str, settings: Mapping, seed: int) -> list[dict]:
    """The questions of benchmark ``name`` and ``split`` from ``annotations``, as configured by ``settings`` (the
    benchmark's config section).

    Every record gets a ``subset`` field (the MME subtask, the MMMU subject, or the POPE split).
    """
    spec = benchmark(name)
    if split not in spec.splits:
        raise ValueError(f"benchmark {name!r} has no split {split!r}; its splits: {list(spec.splits)}")
    if spec.build is None:
        raise ValueError(f"benchmark {name!r} has no ShapesWorld questions: its questions are converted from data")
    questions = spec.build(annotations, split, settings, seed)
    for q in questions:
        q["subset"] = q[spec.subset] if spec.subset else split
    return questions


def metrics(name: str, answers: pd.DataFrame) -> dict[str, float]:
    """Headline metrics of one method's answers: columns ``label``, ``prediction``, ``subset`` and, for MME,
    ``pair`` (the image id that pairs an image's two questions; see :mod:`lvlm_debias.metrics.mme`).

    pope: accuracy, precision, recall, F1, yes-ratio; mme: accuracy, acc+ and the summed MME score, with the
    perception and cognition totals of the questions' source (:func:`mme_groups`); mmmu: accuracy over all questions.
    """
    return benchmark(name).metrics(answers)


def expected_metrics(name: str, label_dist: np.ndarray, answers: pd.DataFrame) -> dict[str, float]:
    """Expected metrics of one draw per question; ``label_dist`` (N, K + 1) rows align with ``answers`` rows
    (columns ``label``, ``subset`` and, for MME, ``pair``: the image id acc+ pairs questions by), the last column
    being the non-label mass: the accuracy, then the benchmark's own (``Benchmark.expected``; e.g. MME's expected
    acc+ of a pair is the product of its questions' chances of being right)."""
    spec = benchmark(name)
    index = {label: i for i, label in enumerate(spec.labels)}
    gold = np.array([index[y] for y in answers["label"].tolist()])
    return {"accuracy": expected_accuracy(label_dist, gold), **spec.expected(label_dist, gold, answers)}


def subset_accuracy(answers: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per subset (MMMU subject, MME subtask, POPE split): columns ``subset``, ``n``, ``accuracy``."""
    table = accuracy_by_subject(answers.rename(columns={"subset": "subject"})[["subject", "label", "prediction"]])
    table = table[table["subject"] != "overall"]
    return table.rename(columns={"subject": "subset"}).reset_index(drop=True)


def answer_parser(name: str, parser: str | None) -> AnswerParser:
    """The parser of free-text answers to benchmark ``name``: for the yes/no benchmarks the configured one,
    ``parser`` of :data:`~lvlm_debias.metrics.parse.PARSERS` (``benchmarks.<name>.parser``, whose defaults
    config/schema.yaml holds: vcd for POPE, mme for MME); for MMMU the option-letter parser ("other" when no single
    letter is found), which ``parser`` None or "letter" asks for."""
    spec = benchmark(name)
    return spec.parser(name, list(spec.labels), parser)
