"""MME metrics: per-subtask acc, acc+ and score, and the perception / cognition totals.

acc+ asks for both questions about one image right. The two questions are paired by the image's *id* (the ``pair``
field of a question record), never by the image's bytes: lmms-lab/MME has distinct image ids whose files are
byte-identical, and the converted images are stored under their content hash, so two ids can share one file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

LABELS = ("yes", "no")
COLUMNS = ("subtask", "pair", "label", "prediction")

#: MME's own grouping of its 14 subtasks, by the ``category`` names of lmms-lab/MME (MME's eval_tool/calculation.py
#: ``eval_type_dict``; lmms-eval's lmms_eval/tasks/mme/utils.py has the same names, case included: "OCR").
OFFICIAL_GROUPS: dict[str, tuple[str, ...]] = {
    "perception": (
        "existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark", "artwork", "OCR",
    ),
    "cognition": ("commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning"),
}  # fmt: skip


def mme_scores(df: pd.DataFrame) -> pd.DataFrame:
    """One row per subtask (in order of first appearance) with columns ``subtask``, ``n``, ``acc``, ``acc_plus``,
    ``score``.

    ``acc = #right questions / #questions``; ``acc_plus = #pairs with every question right / #pairs``, a pair being
    the questions of one subtask that share a ``pair`` value (one image id: MME's ``question_id``, e.g.
    ``code_reasoning/0020.png``); ``score = 100·acc + 100·acc_plus`` (the maximum is 200 per subtask). A prediction
    other than the label (including a string that is neither "yes" nor "no", e.g. "other") counts as wrong.
    """
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"mme_scores needs columns {list(COLUMNS)}; missing {missing}")
    if df.empty:
        raise ValueError("mme_scores needs at least one question")
    bad = sorted(set(df["label"]) - set(LABELS))
    if bad:
        raise ValueError(f"labels must be 'yes' or 'no'; got {bad[:5]}")
    unpaired = int(df["pair"].isna().sum() + (df["pair"].astype(str) == "").sum())
    if unpaired:
        raise ValueError(
            f"{unpaired} of {len(df)} questions have no `pair` (the image id acc+ pairs questions by): rebuild the "
            "question file (the MME builders and the hub converter write it)"
        )
    right = (df["prediction"] == df["label"]).rename("right")
    frame = pd.concat([df[["subtask", "pair"]], right], axis=1)
    per_pair = frame.groupby(["subtask", "pair"], sort=False)["right"].all()
    acc_plus = per_pair.groupby(level="subtask", sort=False).mean()
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
