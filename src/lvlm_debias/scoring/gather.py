"""Gathering the scored rows of a benchmark split into one table, checked for lost or doubled questions, and a split's
tables from its source's logit cache (:func:`split_tables`), without the model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from lvlm_debias.scoring.first_token import FirstToken
from lvlm_debias.scoring.pairs import distinct_pairs
from lvlm_debias.scoring.store import LogitStore


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


def split_tables(
    questions_by_split: Mapping[str, Sequence[Mapping]],
    split: str,
    parts: Sequence[pd.DataFrame],
    first_tokens: Sequence[FirstToken],
    probes: Sequence[str],
    stores: Sequence[LogitStore] = (),
) -> tuple[pd.DataFrame, FirstToken, LogitStore | None]:
    """One split's ``label_probs`` table (as :func:`~lvlm_debias.scoring.gather.gather_label_probs` writes it),
    stored first-position distributions and logit cache, from the source's pair-keyed shard and
    reference ``parts``: each question gets its pair's rows. A pair missing from the parts fails, naming the probe
    and the count."""
    pairs = distinct_pairs(questions_by_split)
    questions = questions_by_split[split]
    pair_of = pairs.of_split[split]
    table = pd.concat(parts, ignore_index=True)
    wanted = pd.DataFrame({"question_id": [q["question_id"] for q in questions], "pair_id": pair_of})
    rows = wanted.merge(
        table.rename(columns={"question_id": "pair_id"}), on="pair_id", how="left"
    )  # questions sharing a pair share its rows
    rows = rows[rows["probe"].notna()].drop(columns="pair_id")
    rows["label"] = rows["question_id"].map({q["question_id"]: q["label"] for q in questions})
    gathered = gather_label_probs([rows], questions, probes)
    filled = [f for f in first_tokens if len(f.question_id)] or list(first_tokens[:1])
    first = FirstToken.concat(filled).select(pair_of).with_ids([q["question_id"] for q in questions])
    logits = None
    if stores:
        store = LogitStore.gather(stores, pair_of)
        logits = LogitStore({**store.arrays, "question_id": np.asarray([q["question_id"] for q in questions])})
    return gathered, first, logits
