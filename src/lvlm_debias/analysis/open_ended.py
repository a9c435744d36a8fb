"""Open-ended answers (LLaVA-Bench in the wild) under each decoding method: the answers beside the benchmark's
reference, and a summary per setting and method.

The paper has GPT-4 judge these answers against the reference; no judge runs here (it needs a paid API), so the
summary holds only what can be measured without one: answer length, empty answers, and how often a method's answer
differs from naive decoding's for the same question and setting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from lvlm_debias.analysis.generation import ordered
from lvlm_debias.decoding.decode import NAIVE

OPEN_COLUMNS = [
    "setting", "config", "method", "question_id", "image", "category", "question", "reference", "answer", "words",
]  # fmt: skip


def open_answer_frame(decoded: pd.DataFrame, records: Sequence[Mapping]) -> pd.DataFrame:
    """``OPEN_COLUMNS``: generated texts (``decoding.decode.decode_records``) with each question's text, category and
    reference answer (the record's ``label``), and the answer's length in words."""
    by_id = {r["question_id"]: r for r in records}
    frame = decoded.rename(columns={"text": "answer"})
    frame["answer"] = frame["answer"].fillna("").astype(str)
    frame["category"] = [by_id[q].get("category", by_id[q].get("subset", "")) for q in frame["question_id"]]
    frame["question"] = [by_id[q]["text"] for q in frame["question_id"]]
    frame["reference"] = [by_id[q].get("label", "") for q in frame["question_id"]]
    frame["words"] = frame["answer"].str.split().str.len()
    return frame[OPEN_COLUMNS]


def open_summary(answers: pd.DataFrame) -> pd.DataFrame:
    """One row per setting and method (``OPEN_COLUMNS`` in): the decoding configuration, ``n`` answers,
    ``mean_words``, ``empty`` (share of empty answers) and ``differs`` (share of questions whose answer is not naive
    decoding's at the same setting; empty where naive was not run)."""
    rows = []
    for setting, group in answers.groupby("setting", sort=False):
        naive = group[group["method"] == NAIVE].set_index("question_id")["answer"]
        for method, part in group.groupby("method", sort=False):
            texts = part.set_index("question_id")["answer"].fillna("").astype(str)
            differs = (texts != naive.reindex(texts.index)).mean() if len(naive) else float("nan")
            rows.append(
                {
                    "setting": setting,
                    "config": part["config"].iloc[0],
                    "method": method,
                    "n": len(part),
                    "mean_words": float(part["words"].mean()),
                    "empty": float((texts.str.strip() == "").mean()),
                    "differs": float(differs),
                }
            )
    return ordered(pd.DataFrame(rows)).reset_index(drop=True)


def side_by_side(answers: pd.DataFrame, n: int) -> dict[str, list[dict]]:
    """Per setting, the first ``n`` questions (in question order) with their reference and every method's answer:
    ``question_id``, ``image``, ``category``, ``question``, ``reference``, ``answers`` (method -> text)."""
    out = {}
    for setting, group in answers.groupby("setting", sort=False):
        chosen = sorted(group["question_id"].unique())[:n]
        rows = []
        for question_id in chosen:
            part = group[group["question_id"] == question_id]
            first = part.iloc[0]
            rows.append(
                {
                    "question_id": int(question_id),
                    "image": str(first["image"]),
                    "category": str(first["category"]),
                    "question": str(first["question"]),
                    "reference": str(first["reference"]),
                    "answers": {str(m): str(a) for m, a in zip(part["method"], part["answer"], strict=True)},
                }
            )
        out[str(setting)] = rows
    return out
