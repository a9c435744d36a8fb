"""What a benchmark is: :class:`Benchmark`, the definition each benchmark module (``pope``, ``mme``, ``mmmu``) gives
once, and the parts they share (the answer parsers, the accuracy).

A benchmark's behaviour is in its fields, so the rest of the library reads them instead of testing the benchmark's
name: :func:`lvlm_debias.benchmarks.build_questions` calls ``build``, :func:`~lvlm_debias.benchmarks.metrics`
calls ``metrics``, the decoding sweep calls ``expected``, and so on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lvlm_debias.data.convert import Converter
from lvlm_debias.metrics.parse import PARSERS
from lvlm_debias.scoring.convention import Convention

#: (annotations, split, the benchmark's config section, seed) -> the split's question records
Builder = Callable[[list[dict], str, Mapping, int], list[dict]]
#: (label_dist (N, K + 1), gold label indices (N,), answers) -> expected metrics beyond the accuracy
Expected = Callable[[np.ndarray, np.ndarray, pd.DataFrame], dict[str, float]]


@dataclass(frozen=True)
class AnswerParser:
    """Reads a label from a free-text answer: ``parser(text, label)`` applies ``rule``; ``name`` says which rule it
    is (vcd, llava, mme or letter), so that every table of parsed answers can name it."""

    name: str
    rule: Callable[[str, str], str]

    def __call__(self, text: str, label: str) -> str:
        return self.rule(text, label)


#: (the registered benchmark name, its labels, the configured ``benchmarks.<name>.parser`` or None) -> the parser
ParserFactory = Callable[[str, Sequence[str], "str | None"], AnswerParser]


def yes_no_parser(name: str, labels: Sequence[str], parser: str | None) -> AnswerParser:
    """The configured yes/no parser ``parser`` of :data:`~lvlm_debias.metrics.parse.PARSERS`
    (``benchmarks.<name>.parser``, whose default config/schema.yaml holds)."""
    if parser not in PARSERS:
        raise ValueError(
            f"unknown yes/no parser {parser!r} for benchmark {name!r}; known parsers: {list(PARSERS)} "
            f"(benchmarks.{name}.parser)"
        )
    return AnswerParser(parser, PARSERS[parser])


def accuracy(labels: Sequence[str], predicted: Sequence[str]) -> float:
    """The share of predictions equal to their label."""
    return float(np.mean(np.asarray(labels) == np.asarray(predicted)))


@dataclass(frozen=True)
class Benchmark:
    """One classification benchmark, facts and behaviour (one module of :mod:`lvlm_debias.benchmarks` each):

    - ``name``: the benchmark family, the name its metrics and the report know it by (one definition may be
      registered under several names: POPE's three sources);
    - ``splits`` it may have, and ``labels`` (label -> the words that spell it, the first being the label itself);
    - ``subset``: the question field naming its subsets (None: the split is the subset);
    - ``headline``: the metric that ranks calibration and decoding methods; ``shown``: the metrics the readings
      comparison shows, headline first;
    - ``build(annotations, split, settings, seed)``: its ShapesWorld questions (None: converted data only);
    - ``metrics(answers)``: its metrics of one set of answers (columns ``label``, ``prediction``, ``subset`` and
      whatever else it needs, e.g. MME's ``pair``);
    - ``expected(label_dist, gold, answers)``: the metrics beyond the accuracy expected of one draw per question
      from a distribution over the labels and "other" (the decoding sweep's);
    - ``parser(name, labels, configured)``: the :class:`AnswerParser` that reads its generated answers;
    - ``official``: how the official code reads it (:class:`~lvlm_debias.scoring.convention.Convention`; None: it
      has no official reading);
    - ``converter``: the dataset format its downloaded data is converted with (None: ShapesWorld only);
    - ``layout``: the metrics of its calibration table in the paper's layout (one row per split and metric; None:
      ``shown``), and ``layout_percent``: whether they are rates, shown in % (MME's scores are points).
    """

    name: str
    splits: tuple[str, ...]
    labels: Mapping[str, Sequence[str]]
    subset: str | None
    headline: str
    shown: tuple[str, ...]
    build: Builder | None
    metrics: Callable[[pd.DataFrame], dict[str, float]]
    expected: Expected
    parser: ParserFactory = yes_no_parser
    official: Convention | None = None
    converter: Converter | None = None
    layout: tuple[str, ...] | None = None
    layout_percent: bool = True

    def __post_init__(self):
        if self.shown[0] != self.headline:
            raise ValueError(f"benchmark {self.name!r}: `shown` must start with the headline {self.headline!r}")

    @property
    def paper_layout(self) -> tuple[str, ...]:
        """The metrics of the paper-layout table: ``layout``, else ``shown``."""
        return self.shown if self.layout is None else self.layout

    @property
    def family(self) -> str:
        """Whose metrics it uses (pope, mme, mmmu): the definition's ``name``."""
        return self.name
