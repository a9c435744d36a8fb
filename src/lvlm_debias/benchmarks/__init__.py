"""The classification benchmarks: their splits, label spaces, subsets, question builders and headline metrics.

One registry serves the ShapesWorld tasks and converted real benchmarks alike (same JSONL schema): POPE (yes/no
existence, three negative-sampling splits), MME (yes/no, two questions per image and subtask) and MMMU (multiple
choice, the option letters are the labels).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lvlm_debias.data.pope import POPE_SPLITS, build_pope
from lvlm_debias.metrics.mme import OFFICIAL_GROUPS, mme_scores, mme_totals
from lvlm_debias.metrics.mmmu import accuracy_by_subject
from lvlm_debias.metrics.parse import PARSERS, parse_choice
from lvlm_debias.metrics.pope import pope_metrics
from lvlm_debias.scoring.labels import YES_NO
from lvlm_debias.world.tasks import MME_GROUPS, build_mme, build_mmmu

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


#: The perception / cognition groups of each source of MME questions. The groups follow the data, not the benchmark's
#: name: ``mme`` is ShapesWorld's MME in the embedded config and lmms-lab/MME in the paper config. The questions carry
#: their source in their subtask names, which differ between sources (lmms-lab/MME's ``category``: "color", "OCR",
#: "code_reasoning", ...; ShapesWorld's: "colour", "shape_facts"), so :func:`mme_groups` picks the source whose
#: groups hold every subtask present. The names both share (existence, count, position) are perception in both, so
#: a run with only those gets the same totals from either.
MME_SOURCES: dict[str, Mapping[str, Sequence[str]]] = {
    "lmms-lab/MME": OFFICIAL_GROUPS,
    "shapes_world": MME_GROUPS,
}


def mme_groups(subtasks: Iterable[str]) -> tuple[str, dict[str, list[str]]]:
    """(source, groups) for the MME ``subtasks`` present: the first source of :data:`MME_SOURCES` whose groups hold
    every one of them, each group cut to the subtasks present (a group with none left stays, empty: total 0).

    Raises ``ValueError`` naming the subtasks that no group of any source holds: a subtask is never left out of the
    totals silently.
    """
    present = list(dict.fromkeys(subtasks))
    missing = {}
    for source, groups in MME_SOURCES.items():
        grouped = {s for subs in groups.values() for s in subs}
        missing[source] = [s for s in present if s not in grouped]
        if not missing[source]:
            return source, {g: [s for s in subs if s in present] for g, subs in groups.items()}
    closest = min(missing, key=lambda source: len(missing[source]))
    raise ValueError(
        f"MME subtasks {missing[closest]} are in no perception/cognition group (closest source {closest!r}, groups "
        f"{ {g: list(subs) for g, subs in MME_SOURCES[closest].items()} }): check the question file's subtask names, "
        "or add them to a group of lvlm_debias.benchmarks.MME_SOURCES"
    )


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
    """Headline metrics of one method's answers: columns ``label``, ``prediction``, ``subset`` and, for MME,
    ``pair`` (the image id that pairs an image's two questions; see :mod:`lvlm_debias.metrics.mme`).

    pope: accuracy, precision, recall, F1, yes-ratio; mme: accuracy, acc+ and the summed MME score, with the
    perception and cognition totals of the questions' source (:func:`mme_groups`); mmmu: accuracy over all questions.
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
    _, groups = mme_groups(scores["subtask"])
    totals = mme_totals(scores, groups)
    out = {"accuracy": accuracy, "acc_plus": float(scores["acc_plus"].mean()), "score": float(scores["score"].sum())}
    out.update({f"{row.group}_score": float(row.score) for row in totals.itertuples()})
    return out


def mme_subsets(answers: pd.DataFrame) -> pd.DataFrame:
    """MME's per-subtask acc, acc+ and score of one method's answers (columns ``subset``, ``pair``, ``label``,
    ``prediction``)."""
    if "pair" not in answers.columns:
        raise ValueError(
            "MME answers need a `pair` column (the image id acc+ pairs an image's questions by; never the image file, "
            f"which two MME image ids can share); got columns {list(answers.columns)}"
        )
    return mme_scores(answers.rename(columns={"subset": "subtask"})[["subtask", "pair", "label", "prediction"]])


def subset_accuracy(answers: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per subset (MMMU subject, MME subtask, POPE split): columns ``subset``, ``n``, ``accuracy``."""
    table = accuracy_by_subject(answers.rename(columns={"subset": "subject"})[["subject", "label", "prediction"]])
    table = table[table["subject"] != "overall"]
    return table.rename(columns={"subject": "subset"}).reset_index(drop=True)


#: the name of the option-letter parser (MMMU), which no config chooses
LETTER_PARSER = "letter"


@dataclass(frozen=True)
class AnswerParser:
    """Reads a label from a free-text answer: ``parser(text, label)`` applies ``rule``; ``name`` says which rule it
    is (vcd, llava, mme or letter), so that every table of parsed answers can name it."""

    name: str
    rule: Callable[[str, str], str]

    def __call__(self, text: str, label: str) -> str:
        return self.rule(text, label)


def answer_parser(name: str, parser: str | None) -> AnswerParser:
    """The parser of free-text answers to benchmark ``name``: for the yes/no benchmarks the configured one,
    ``parser`` of :data:`~lvlm_debias.metrics.parse.PARSERS` (``benchmarks.<name>.parser``, whose defaults
    config/schema.yaml holds: vcd for POPE, mme for MME); for MMMU the option-letter parser ("other" when no single
    letter is found), which ``parser`` None or "letter" asks for."""
    spec = benchmark(name)
    if spec.labels is LETTERS:
        if parser not in (None, LETTER_PARSER):
            raise ValueError(f"benchmark {name!r} is read by the option-letter parser only, not {parser!r}")
        letters = list(spec.labels)
        return AnswerParser(LETTER_PARSER, lambda text, label: parse_choice(text, letters) or "other")
    if parser not in PARSERS:
        raise ValueError(
            f"unknown yes/no parser {parser!r} for benchmark {name!r}; known parsers: {list(PARSERS)} "
            f"(benchmarks.{name}.parser)"
        )
    return AnswerParser(parser, PARSERS[parser])
