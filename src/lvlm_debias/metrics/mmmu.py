"""MMMU metrics: multiple-choice accuracy by subject, with a micro-averaged overall row."""

from __future__ import annotations

import pandas as pd

COLUMNS = ("subject", "label", "prediction")
OVERALL = "overall"


def accuracy_by_subject(df: pd.DataFrame) -> pd.DataFrame:
    """One row per subject (order of first appearance) with ``subject``, ``n``,
    ``accuracy = #(prediction == label) / n``, then a row ``subject = "overall"`` with the accuracy over all
    questions (micro average: subjects weigh by their number of questions). A prediction of None is wrong.
    """
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"accuracy_by_subject needs columns {list(COLUMNS)}; missing {missing}")
    if df.empty:
        raise ValueError("accuracy_by_subject needs at least one question")
    if (df["subject"] == OVERALL).any():
        raise ValueError(f"a subject may not be named {OVERALL!r}: that name is kept for the total row")
    right = (df["prediction"] == df["label"]).rename("right")
    per_subject = (
        pd.concat([df["subject"], right], axis=1).groupby("subject", sort=False)["right"].agg(["size", "mean"])
    )
    out = pd.DataFrame(
        {
            "subject": [*per_subject.index, OVERALL],
            "n": [*per_subject["size"].astype(int), len(df)],
            "accuracy": [*per_subject["mean"].astype(float), float(right.mean())],
        }
    )
    return out
