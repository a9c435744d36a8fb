"""Gathering the scored rows of a benchmark split into one table, checked for lost or doubled questions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd


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
