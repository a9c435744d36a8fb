"""Benchmark bias: subsets that text alone (no image) answers as well as the image does."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

OVERALL = "overall"


def text_only_bias(
    acc: pd.DataFrame,
    subset_col: str = "subset",
    naive: str = "naive",
    text_only: Sequence[str] = ("none", "unk"),
    tolerance: float = 0.0,
) -> pd.DataFrame:
    """One row per subset (order of first appearance) comparing the text-only probes with the real image.

    ``acc`` is tidy: columns ``subset_col``, ``probe``, ``accuracy``, ``n``. Output columns: ``subset``, ``n``,
    ``naive_accuracy``, ``<probe>_accuracy`` per text-only probe, ``best_text_only = max_probe accuracy``,
    ``gap = best_text_only - naive_accuracy`` and ``text_answerable = gap >= -tolerance``. Every probe must score
    every subset on the same number of questions as ``naive``.
    """
    missing = [c for c in (subset_col, "probe", "accuracy", "n") if c not in acc.columns]
    if missing:
        raise ValueError(f"text_only_bias needs columns {[subset_col, 'probe', 'accuracy', 'n']}; missing {missing}")
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0; got {tolerance}")
    probes = list(text_only)
    if not probes or naive in probes:
        raise ValueError(f"text_only must name at least one probe other than naive {naive!r}; got {probes}")
    absent = [p for p in [naive, *probes] if p not in set(acc["probe"])]
    if absent:
        raise ValueError(
            f"the accuracy table has no rows for probe(s) {absent}; probes present: {sorted(acc['probe'].unique())}"
        )
    rows = acc[acc["probe"].isin([naive, *probes])]
    if rows.duplicated([subset_col, "probe"]).any():
        raise ValueError(f"the accuracy table has more than one row per ({subset_col}, probe)")
    accuracy = rows.pivot(index=subset_col, columns="probe", values="accuracy")
    counts = rows.pivot(index=subset_col, columns="probe", values="n")
    order = list(dict.fromkeys(rows[subset_col]))
    accuracy, counts = accuracy.loc[order], counts.loc[order]
    if accuracy[naive].isna().any():
        raise ValueError(f"probe {naive!r} is missing on {list(accuracy.index[accuracy[naive].isna()])}")
    for probe in probes:
        gaps = accuracy.index[accuracy[probe].isna() | (counts[probe] != counts[naive])]
        if len(gaps):
            raise ValueError(f"probe {probe!r} is missing or counts other questions than {naive!r} on {list(gaps)}")
    out = pd.DataFrame(
        {
            "subset": order,
            "n": counts[naive].astype(int).to_numpy(),
            "naive_accuracy": accuracy[naive].to_numpy(dtype=float),
        }
    )
    for probe in probes:
        out[f"{probe}_accuracy"] = accuracy[probe].to_numpy(dtype=float)
    out["best_text_only"] = out[[f"{p}_accuracy" for p in probes]].max(axis=1)
    out["gap"] = out["best_text_only"] - out["naive_accuracy"]
    out["text_answerable"] = out["gap"] >= -tolerance
    return out


def bias_findings(table: pd.DataFrame) -> list[str]:
    """Sentences from a :func:`text_only_bias` table: on how many subsets text alone matches or beats the image
    (naming them), the largest gap, and, if the table has an "overall" row, the gap over all questions."""
    subsets = table[table["subset"] != OVERALL]
    if subsets.empty:
        raise ValueError("bias_findings needs at least one subset besides 'overall'")
    answerable = subsets[subsets["text_answerable"]]
    names = f": {', '.join(map(str, answerable['subset']))}" if len(answerable) else ""
    out = [f"Text alone matches or beats the image on {len(answerable)}/{len(subsets)} subsets{names}."]
    top = subsets.loc[subsets["gap"].idxmax()]
    out.append(
        f"The largest gap is on {top['subset']}: best text-only accuracy {top['best_text_only']:.3f} "
        f"vs {top['naive_accuracy']:.3f} with the image ({100 * top['gap']:+.1f} points)."
    )
    overall = table[table["subset"] == OVERALL]
    if len(overall):
        row = overall.iloc[0]
        out.append(f"Over all questions, the best text-only input is {100 * row['gap']:+.1f} points from the image.")
    return out
