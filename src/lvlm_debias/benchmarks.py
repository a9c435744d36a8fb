"""The classification benchmarks: their splits, label spaces, subsets, question builders and headline metrics.

One registry serves the ShapesWorld tasks and converted real benchmarks alike (same JSONL schema): POPE (yes/no
existence, three negative-sampling splits), MME (yes/no, two questions per image and subtask) and MMMU (multiple
choice, the option letters are the labels).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lvlm_debias.data.pope import POPE_SPLITS, build_pope
from lvlm_debias.data.tasks import MME_GROUPS, build_mme, build_mmmu
from lvlm_debias.metrics.mme import mme_scores, mme_totals
from lvlm_debias.metrics.mmmu import accuracy_by_subject
from lvlm_debias.metrics.parse import PARSERS, parse_choice
from lvlm_debias.metrics.pope import pope_metrics
from lvlm_debias.scoring.labels import YES_NO

LETTERS: dict[str, list[str]] = {letter: [letter] for letter in "ABCD"}


@dataclass(frozen=True)
class Benchmark:
    """A benchmark's fixed facts: ``splits`` it may have, ``labels`` (label -> words), the question field naming its
    subsets (``subset``, or None), and the metric that ranks methods and decoding configurations (``headline``)."""

    name: str
    splits: tuple[str, ...]
    labels: Mapping[str, Sequence[str]]
    subset: str | None
    headline: str
    family: str = ""  # whose metrics it uses (pope, mme, mmmu); empty: its own name

    def __post_init__(self):
        if not self.family:
            object.__setattr__(self, "family", self.name)


BENCHMARKS: dict[str, Benchmark] = {
    "pope": Benchmark("pope", POPE_SPLITS, YES_NO, None, "f1"),
    "mme": Benchmark("mme", ("all",), YES_NO, "subtask", "score"),
    "mmmu": Benchmark("mmmu", ("validation",), LETTERS, "subject", "accuracy"),
    # the paper's three POPE sources (COCO from the hub, lvlm_debias.data.convert; A-OKVQA and GQA from URLs,
    # lvlm_debias.data.url_dataset): POPE's metrics
    **{
        name: Benchmark(name, POPE_SPLITS, YES_NO, None, "f1", family="pope")
        for name in ("pope_coco", "pope_aokvqa", "pope_gqa")
    },
}


def benchmark(name: str) -> Benchmark:
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; known benchmarks: {list(BENCHMARKS)}")
    return BENCHMARKS[name]


def build_questions(name: str, annotations: list[dict], split: str, settings: Mapping, seed: int) -> list[dict]:
    """The questions of benchmark ``name`` and ``split`` from ``annotations``, as configured by ``settings``.

    Every record gets a ``subset`` field (the MME subtask, the MMMU subject, or the POPE split).
    """
    spec = benchmark(name)
    if split not in spec.splits:
        raise ValueError(f"benchmark {name!r} has no split {split!r}; its splits: {list(spec.splits)}")
    n_images = settings.get("n_images")
    if name == "pope":
        questions = build_pope(annotations, split, seed, n_images, settings.get("max_positives", 3))
    elif name == "mme":
        questions = build_mme(annotations, seed, n_images, tuple(settings["subtasks"]))
    else:
        questions = build_mmmu(annotations, seed, n_images, tuple(settings["subjects"]))
    for q in questions:
        q["subset"] = q[spec.subset] if spec.subset else split
    return questions


def metrics(name: str, answers: pd.DataFrame) -> dict[str, float]:
    """Headline metrics of one method's answers: columns ``label``, ``prediction``, ``subset``, ``image``.

    pope: accuracy, precision, recall, F1, yes-ratio; mme: accuracy, acc+ and the summed MME score (with the
    perception and cognition totals); mmmu: accuracy over all questions.
    """
    family = benchmark(name).family
    labels, predicted = list(answers["label"]), list(answers["prediction"])
    if family == "pope":
        # an answer that is neither label is wrong whatever the gold label (VCD's parser: FN for yes, FP for no)
        flipped = {"yes": "no", "no": "yes"}
        predicted = [p if p in flipped else flipped[y] for p, y in zip(predicted, labels, strict=True)]
        return pope_metrics(predicted, labels)
    accuracy = float(np.mean(np.asarray(labels) == np.asarray(predicted)))
    if family == "mmmu":
        return {"accuracy": accuracy}
    scores = mme_subsets(answers)
    totals = mme_totals(scores, {g: [s for s in subs if s in set(scores["subtask"])] for g, subs in MME_GROUPS.items()})
    out = {"accuracy": accuracy, "acc_plus": float(scores["acc_plus"].mean()), "score": float(scores["score"].sum())}
    out.update({f"{row.group}_score": float(row.score) for row in totals.itertuples()})
    return out


def mme_subsets(answers: pd.DataFrame) -> pd.DataFrame:
    """MME's per-subtask acc, acc+ and score of one method's answers."""
    return mme_scores(answers.rename(columns={"subset": "subtask"})[["subtask", "image", "label", "prediction"]])


def subset_accuracy(answers: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per subset (MMMU subject, MME subtask, POPE split): columns ``subset``, ``n``, ``accuracy``."""
    table = accuracy_by_subject(answers.rename(columns={"subset": "subject"})[["subject", "label", "prediction"]])
    table = table[table["subject"] != "overall"]
    return table.rename(columns={"subject": "subset"}).reset_index(drop=True)


def answer_parser(name: str, yes_no: str = "vcd") -> Callable[[str, str], str]:
    """``parse(text, label)`` for a free-text answer of benchmark ``name``: a yes/no parser (``vcd`` or ``llava``)
    for POPE and MME, the option-letter parser for MMMU ("other" when no single letter is found)."""
    spec = benchmark(name)
    if yes_no not in PARSERS:
        raise ValueError(f"unknown yes/no parser {yes_no!r}; known parsers: {list(PARSERS)}")
    if spec.labels is LETTERS:
        letters = list(spec.labels)
        return lambda text, label: parse_choice(text, letters) or "other"
    return PARSERS[yes_no]
