"""MME metrics: per-subtask acc, acc+ and score, and the perception / cognition totals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

LABELS = ("yes", "no")
COLUMNS = ("subtask", "image", "label", "prediction")


def mme_scores(df: pd.DataFrame) -> pd.DataFrame:
    """One row per subtask (in order of first appearance) with columns ``subtask``, ``n``, ``acc``, ``acc_plus``,
    ``score``.

    ``acc = #right questions / #questions``; ``acc_plus = #images with every question right / #images``;
    ``score = 100·acc + 100·acc_plus`` (the maximum is 200 per subtask). A prediction other than the label
    (including a string that is neither "yes" nor "no") counts as wrong.
    """
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"mme_scores needs columns {list(COLUMNS)}; missing {missing}")
    if df.empty:
        raise ValueError("mme_scores needs at least one question")
    bad = sorted(set(df["label"]) - set(LABELS))
    if bad:
        raise ValueError(f"labels must be 'yes' or 'no'; got {bad[:5]}")
    right = (df["prediction"] == df["label"]).rename("right")
    frame = pd.concat([df[["subtask", "image"]], right], axis=1)
    per_image = frame.groupby(["subtask", "image"], sort=False)["right"].all()
    acc_plus = per_image.groupby(level="subtask", sort=False).mean()
    per_question = frame.groupby("subtask", sort=False)["right"].agg(["size", "mean"])
    out = pd.DataFrame(
        {
            "subtask": per_question.index,
            "n": per_question["size"].to_numpy(),
            "acc": per_question["mean"].to_numpy(dtype=float),
            "acc_plus": acc_plus.loc[per_question.index].to_numpy(dtype=float),
        }
    )
    out["score"] = 100 * out["acc"] + 100 * out["acc_plus"]
    return out


def mme_totals(scores: pd.DataFrame, groups: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """One row per group (e.g. perception, cognition) with ``score = Σ score of its subtasks`` and ``subtasks``,
    the number of subtasks summed. ``scores`` is the output of :func:`mme_scores`."""
    by_subtask = scores.set_index("subtask")["score"]
    rows = []
    for group, subtasks in groups.items():
        absent = [s for s in subtasks if s not in by_subtask.index]
        if absent:
            raise ValueError(f"group {group!r} names subtasks absent from the scores: {absent}")
        rows.append({"group": group, "score": float(by_subtask.loc[list(subtasks)].sum()), "subtasks": len(subtasks)})
    return pd.DataFrame(rows, columns=["group", "score", "subtasks"])
