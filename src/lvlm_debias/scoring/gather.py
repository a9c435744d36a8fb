"""Gathering shard outputs and prompt-only references into one table per benchmark split."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from lvlm_debias.scoring.first_token import FirstToken


def gather_label_probs(
    parts: Sequence[pd.DataFrame], questions: Sequence[Mapping], probes: Sequence[str]
) -> pd.DataFrame:
    """One table of every question under every probe: rows in ``probes`` order, then question order, with the
    question's ``subset``, ``image`` and ``pair`` (the image id pairing MME's questions; "" where a record has none).
    Fails naming the probe and the count when a question is missing or scored
    twice, so a lost shard cannot go unnoticed."""
    table = pd.concat(parts, ignore_index=True)
    order = {q["question_id"]: i for i, q in enumerate(questions)}
    for probe in probes:
        got = table.loc[table["probe"] == probe, "question_id"]
        if len(got) != len(order) or set(got) != set(order):
            raise ValueError(
                f"probe {probe!r}: {len(got)} scored rows ({got.nunique()} distinct questions) "
                f"for {len(order)} questions"
            )
    extra = sorted(set(table["probe"]) - set(probes))
    if extra:
        raise ValueError(f"the parts hold probes that were not asked for: {extra}")
    subset = {q["question_id"]: q.get("subset", "") for q in questions}
    image = {q["question_id"]: q["image"] for q in questions}
    pair = {q["question_id"]: q.get("pair", "") for q in questions}
    table["subset"] = table["question_id"].map(subset)
    table["image"] = table["question_id"].map(image)
    table["pair"] = table["question_id"].map(pair)
    table["_probe"] = table["probe"].map({p: i for i, p in enumerate(probes)})
    table["_order"] = table["question_id"].map(order)
    table = table.sort_values(["_probe", "_order"], kind="stable").drop(columns=["_probe", "_order"])
    first = ["question_id", "probe", "label", "subset", "image", "pair"]
    return table[first + [c for c in table.columns if c not in first]].reset_index(drop=True)


def gather_first_token(parts: Sequence[FirstToken], questions: Sequence[Mapping]) -> FirstToken:
    """The stored first-position distributions of all shards, in question order; fails on a missing question."""
    merged = FirstToken.concat([p for p in parts if len(p.question_id)] or list(parts[:1]))
    ids = [q["question_id"] for q in questions]
    if sorted(merged.question_id.tolist()) != sorted(ids):
        raise ValueError(f"stored first-token distributions cover {len(merged.question_id)} of {len(ids)} questions")
    return merged
