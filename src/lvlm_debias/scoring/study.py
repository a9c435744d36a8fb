"""Scoring one model of the controlled study on every evidence level (rule study_scores)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from lvlm_debias.data.jsonl import read_jsonl
from lvlm_debias.models.load import load_entry
from lvlm_debias.scoring.labels import YES_NO
from lvlm_debias.scoring.score import score_questions

#: the probes the study's calibration methods need (naive; None and Unk for the paper's references)
STUDY_PROBES = ("naive", "none", "unk")


def score_levels_with_entry(
    model_dir: str | Path,
    entry: Mapping,
    levels: Mapping[str, str | Path],
    *,
    probes: Sequence[str] = STUDY_PROBES,
    top_k: int,
    batch_size: int,
    seed: int = 0,
) -> pd.DataFrame:
    """Raw first-token label probabilities of every question of every level (``levels``: name -> the folder that
    ``world.evidence.write_level`` wrote) under ``probes``, with the model of config ``entry`` loaded from
    ``model_dir``: one row per level, question and probe (``level``, ``question_id``, ``probe``, ``label``,
    ``hard``, ``p_yes``, ``p_no``)."""
    model, processor = load_entry(str(model_dir), entry)
    labels = YES_NO
    frames = []
    for level, folder in levels.items():
        questions = read_jsonl(Path(folder) / "questions.jsonl")
        table, _, _ = score_questions(
            model, processor, questions, Path(folder), template=entry["prompt"], labels=labels,
            probes=probes, top_k=top_k, batch_size=batch_size, seed=seed,
        )  # fmt: skip
        hard = {q["question_id"]: bool(q["hard"]) for q in questions}
        frames.append(table.assign(level=level, hard=table["question_id"].map(hard)))
    out = pd.concat(frames, ignore_index=True)
    return out[["level", "question_id", "probe", "label", "hard", *[c for c in out.columns if c.startswith("p_")]]]
