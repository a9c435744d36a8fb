"""POPE metrics: accuracy, precision, recall, F1 with "yes" as the positive class, and the yes-ratio."""

from __future__ import annotations

from collections.abc import Sequence

POSITIVE, NEGATIVE = "yes", "no"


def pope_metrics(predictions: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    """``accuracy = (TP+TN)/N``, ``precision = TP/(TP+FP)``, ``recall = TP/(TP+FN)``,
    ``f1 = 2·P·R/(P+R)``, ``yes_ratio = (TP+FP)/N``; an undefined ratio (0/0) is reported as 0.
    """
    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions but {len(labels)} labels")
    if not labels:
        raise ValueError("pope_metrics needs at least one prediction")
    bad = sorted({v for v in (*predictions, *labels) if v not in (POSITIVE, NEGATIVE)})
    if bad:
        raise ValueError(f"predictions and labels must be 'yes' or 'no'; got {bad[:5]}")
    tp = sum(p == POSITIVE and y == POSITIVE for p, y in zip(predictions, labels, strict=True))
    fp = sum(p == POSITIVE and y == NEGATIVE for p, y in zip(predictions, labels, strict=True))
    fn = sum(p == NEGATIVE and y == POSITIVE for p, y in zip(predictions, labels, strict=True))
    tn = len(labels) - tp - fp - fn
    return {"accuracy": (tp + tn) / len(labels), **pope_ratios(tp, fp, fn, len(labels))}


def pope_ratios(tp: float, fp: float, fn: float, n: int) -> dict[str, float]:
    """POPE's ratios of the counts (observed, or expected over a label distribution) of ``n`` questions:
    ``precision = TP/(TP+FP)``, ``recall = TP/(TP+FN)``, ``f1 = 2·P·R/(P+R)``, ``yes_ratio = (TP+FP)/n``; an
    undefined ratio (0/0) is reported as 0."""
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "yes_ratio": (tp + fp) / n,
    }
