"""Sharded scoring gathers to exactly the table of one unsharded job."""

import numpy as np
import pandas as pd
import pytest
from conftest import write_questions

from lvlm_debias.models.prompts import LLAVA_HF
from lvlm_debias.scoring.first_token import FirstToken, FirstTokenSpec
from lvlm_debias.scoring.gather import gather_first_token, gather_label_probs
from lvlm_debias.scoring.score import YES_NO, score_questions
from lvlm_debias.scoring.shards import shard_bounds
from lvlm_debias.tables import write_csv


def test_shard_bounds_fall_on_batches():
    # 10 rows in batches of 3 -> 4 batches; 2 shards -> 2 batches each: rows 0-5 and 6-9
    assert [shard_bounds(10, s, 2, 3) for s in range(2)] == [(0, 6), (6, 10)]
    # 3 shards of 4 batches -> 2, 2, 0 batches: the last shard is empty
    assert [shard_bounds(10, s, 3, 3) for s in range(3)] == [(0, 6), (6, 10), (10, 10)]
    assert shard_bounds(10, 0, 1, 64) == (0, 10)
    with pytest.raises(ValueError, match="shard must lie in"):
        shard_bounds(10, 2, 2, 3)
    with pytest.raises(ValueError, match="shards must be >= 1"):
        shard_bounds(10, 0, 0, 3)


def _questions(tmp_path, n=7):
    return write_questions(tmp_path, n, first_id=10)


def _run(tiny_llava, questions, root, shards, batch_size, out):
    model, processor = tiny_llava
    spec = FirstTokenSpec(top=20, temperatures=(0.5, 1.0))
    parts, stored = [], []
    for shard in range(shards):
        start, stop = shard_bounds(len(questions), shard, shards, batch_size)
        scores, first, _ = score_questions(
            model,
            processor,
            questions[start:stop],
            root,
            template=LLAVA_HF,
            labels=YES_NO,
            probes=["naive", "noise"],
            batch_size=batch_size,
            store=spec,
        )
        parts.append(scores)
        stored.append(first if first is not None else spec.empty())
    refs, _, _ = score_questions(
        model, processor, questions, root, template=LLAVA_HF, labels=YES_NO, probes=["none", "unk", "zero", "one"]
    )
    table = gather_label_probs([*parts, refs], questions, ["naive", "none", "unk", "noise", "zero", "one"])
    write_csv(table, out / f"label_probs_{shards}.csv")
    gather_first_token(stored, questions).save(out / f"first_token_{shards}.npz")
    return (out / f"label_probs_{shards}.csv").read_bytes(), FirstToken.load(out / f"first_token_{shards}.npz")


def test_any_number_of_shards_gives_identical_tables(tiny_llava, tmp_path):
    questions = _questions(tmp_path)
    one, first_one = _run(tiny_llava, questions, tmp_path, 1, 2, tmp_path)
    for shards in (2, 3, 5):
        many, first_many = _run(tiny_llava, questions, tmp_path, shards, 2, tmp_path)
        assert many == one, f"{shards} shards differ from one job"
        for field in ("question_id", "top_ids", "top_logits", "log_z"):
            np.testing.assert_array_equal(getattr(first_many, field), getattr(first_one, field))
    table = pd.read_csv(tmp_path / "label_probs_1.csv")
    assert list(table["probe"].unique()) == ["naive", "none", "unk", "noise", "zero", "one"]
    assert list(table["question_id"][:7]) == [q["question_id"] for q in questions]


def test_a_lost_shard_is_named(tiny_llava, tmp_path):
    questions = _questions(tmp_path, 4)
    model, processor = tiny_llava
    part, _, _ = score_questions(
        model, processor, questions[:2], tmp_path, template=LLAVA_HF, labels=YES_NO, probes=["naive"]
    )
    with pytest.raises(ValueError, match=r"probe 'naive': 2 scored rows \(2 distinct questions\) for 4 questions"):
        gather_label_probs([part], questions, ["naive"])


def test_gathered_table_carries_each_questions_pair():
    """MME's acc+ pairs questions by the record's `pair` (its image id), so the gathered table keeps it beside the
    image file, which two image ids may share; "" for a record without one."""
    questions = [
        {"question_id": 0, "image": "images/a.png", "subset": "existence", "pair": "existence/0001.png:existence"},
        {"question_id": 1, "image": "images/a.png", "subset": "existence", "pair": "existence/0002.png:existence"},
        {"question_id": 2, "image": "images/b.png", "subset": "random"},
    ]
    part = pd.DataFrame({"question_id": [2, 1, 0], "probe": "naive", "label": ["no", "no", "yes"],
                         "p_yes": [0.2, 0.4, 0.7], "p_no": [0.8, 0.6, 0.3]})  # fmt: skip
    table = gather_label_probs([part], questions, ["naive"])
    assert list(table.columns[:6]) == ["question_id", "probe", "label", "subset", "image", "pair"]
    assert table["pair"].tolist() == ["existence/0001.png:existence", "existence/0002.png:existence", ""]
