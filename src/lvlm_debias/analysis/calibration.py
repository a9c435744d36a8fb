"""POPE under post-hoc calibration: debiased label distributions and the metrics table per split and method."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from lvlm_debias.methods.calibration import calibrate, normalise, reference, reference_both
from lvlm_debias.metrics.pope import pope_metrics

LABELS = ("yes", "no")
#: methods and the probes each one needs besides the naive (real-image) input.
METHOD_PROBES = {"naive": (), "none": ("none",), "unk": ("unk",), "both": ("none", "unk")}


def probe_matrix(scores: pd.DataFrame, probe: str, labels: Sequence[str] = LABELS) -> pd.DataFrame:
    """Raw label probabilities of one probe, indexed by question_id, one column per label."""
    rows = scores[scores["probe"] == probe].set_index("question_id")
    if rows.empty:
        raise ValueError(
            f"the scores hold no rows for probe {probe!r}; probes present: {sorted(scores['probe'].unique())}"
        )
    if rows.index.has_duplicates:
        raise ValueError(f"probe {probe!r} scores a question more than once")
    return rows[[f"p_{label}" for label in labels]]


def debiased(scores: pd.DataFrame, method: str, labels: Sequence[str] = LABELS) -> pd.DataFrame:
    """The label distribution q per question under ``method`` (columns = labels, index = question_id).

    naive: ``q = normalise(p)``; none / unk: ``q = calibrate(normalise(p), normalise(p_ref) + eps)``;
    both: the same with ``p_ref`` the normalised sum of the raw None and Unk probabilities.
    """
    if method not in METHOD_PROBES:
        raise ValueError(f"unknown method {method!r}; known methods: {list(METHOD_PROBES)}")
    naive = probe_matrix(scores, "naive", labels)
    p = normalise(naive.to_numpy())
    if method == "naive":
        q = p
    else:
        refs = [probe_matrix(scores, probe, labels).loc[naive.index].to_numpy() for probe in METHOD_PROBES[method]]
        p_ref = reference_both(*refs) if method == "both" else reference(refs[0])
        q = calibrate(p, p_ref)
    return pd.DataFrame(q, index=naive.index, columns=list(labels))


def predictions(q: pd.DataFrame) -> pd.Series:
    """argmax over labels per question (ties go to the first label)."""
    return pd.Series(np.asarray(q.columns)[q.to_numpy().argmax(axis=1)], index=q.index)


def calibration_table(scores_by_split: Mapping[str, pd.DataFrame], methods: Sequence[str]) -> pd.DataFrame:
    """One row per split and method with POPE's metrics; ``naive`` comes first whether asked for or not."""
    methods = ["naive", *[m for m in methods if m != "naive"]]
    rows = []
    for split, scores in scores_by_split.items():
        gold = scores[scores["probe"] == "naive"].set_index("question_id")["label"]
        for method in methods:
            predicted = predictions(debiased(scores, method)).loc[gold.index]
            metrics = pope_metrics(list(predicted), list(gold))
            rows.append({"split": split, "method": method, "n": len(gold), **metrics})
    return pd.DataFrame(rows)


def calibration_findings(table: pd.DataFrame) -> list[str]:
    """One sentence per reference method: on how many splits it raises F1 over naive, and how it moves the
    yes-ratio (the paper's finding is that calibration raises F1 and pulls the yes-ratio towards 50 %)."""
    naive = table[table["method"] == "naive"].set_index("split")
    out = []
    for method in [m for m in dict.fromkeys(table["method"]) if m != "naive"]:
        rows = table[table["method"] == method].set_index("split").loc[naive.index]
        gained = int((rows["f1"] > naive["f1"]).sum())
        closer = int(((rows["yes_ratio"] - 0.5).abs() < (naive["yes_ratio"] - 0.5).abs()).sum())
        delta = 100 * (rows["f1"] - naive["f1"]).mean()
        out.append(
            f"Calibration with the {method} reference raises F1 over naive on {gained}/{len(rows)} splits "
            f"(mean change {delta:+.1f} points) and brings the yes-ratio closer to 50 % on {closer}/{len(rows)}."
        )
    return out
