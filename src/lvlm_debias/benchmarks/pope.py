"""POPE (Li et al., 2023): yes/no questions on whether an object is in the image, negatives sampled three ways
(the splits random, popular, adversarial); metrics with "yes" as the positive class.

One definition, registered under four names: ``pope`` (ShapesWorld's, or lmms-lab/POPE's COCO questions) and the
paper's three sources ``pope_coco``, ``pope_aokvqa``, ``pope_gqa`` (from the hub, or VCD's question files by URL,
:mod:`lvlm_debias.data.url_dataset`).

Its hub format ``pope`` (``lmms-lab/POPE``, config ``Full``: ``Full/{split}-*.parquet``) has the columns
``question_id``, ``question``, ``answer`` (yes/no), ``image``, ``image_source``, ``category``; COCO val2014 only,
3 x 3000 questions.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from lvlm_debias.benchmarks.base import Benchmark
from lvlm_debias.data.convert import Converter, image_bytes, pope_object, yes_no_label
from lvlm_debias.data.pope import POPE_SPLITS, build_pope
from lvlm_debias.decoding.sampling import expected_confusion
from lvlm_debias.metrics.pope import pope_metrics, pope_ratios
from lvlm_debias.scoring.convention import Convention
from lvlm_debias.scoring.labels import YES_NO

#: the paper's three POPE sources, each registered as a benchmark of its own beside ``pope``
SOURCES = ("pope_coco", "pope_aokvqa", "pope_gqa")


def build(annotations: list[dict], split: str, settings: Mapping, seed: int) -> list[dict]:
    """ShapesWorld's POPE questions of ``split`` (``benchmarks.pope``: ``n_images``, ``max_positives``)."""
    return build_pope(annotations, split, seed, settings.get("n_images"), max_positives=settings["max_positives"])


def metrics(answers: pd.DataFrame) -> dict[str, float]:
    """Accuracy, precision, recall, F1 and yes-ratio (:func:`~lvlm_debias.metrics.pope.pope_metrics`). An answer that
    is neither label is wrong whatever the gold label (VCD's parser: a false negative for yes, a false positive for
    no)."""
    labels, predicted = list(answers["label"]), list(answers["prediction"])
    flipped = {"yes": "no", "no": "yes"}
    predicted = [p if p in flipped else flipped[y] for p, y in zip(predicted, labels, strict=True)]
    return pope_metrics(predicted, labels)


def expected(label_dist: np.ndarray, gold: np.ndarray, answers: pd.DataFrame) -> dict[str, float]:
    """Precision, recall, F1 and yes-ratio as ratios of expected counts (a first-order approximation of their
    expectation); mass on "other" counts as a wrong answer, as :func:`metrics` counts one."""
    c = expected_confusion(label_dist, gold)  # rows: predicted yes, no, other; columns: gold yes, no
    tp, fp = c[0, 0], c[0, 1] + c[2, 1]
    fn, n = c[1, 0] + c[2, 0], len(gold)
    return pope_ratios(tp, fp, fn, n)


def records(rows: pd.DataFrame, split: str) -> tuple[list[dict], dict]:
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
                "label": yes_no_label(row.answer),
                "split": split,
                "object": name,
                "image_source": str(getattr(row, "image_source", "")),
            }
        )
    return out, {}


POPE = Benchmark(
    name="pope",
    splits=POPE_SPLITS,
    labels=YES_NO,
    subset=None,
    headline="f1",
    shown=("f1", "accuracy", "yes_ratio"),
    build=build,
    metrics=metrics,
    expected=expected,
    official=Convention(read_top=10, normalise_single=True),  # eval_pope_calibrate.py
    converter=Converter("pope", records, subset="split", splits=POPE_SPLITS),
    layout=("accuracy", "f1", "yes_ratio"),  # the paper's Table 1
)
