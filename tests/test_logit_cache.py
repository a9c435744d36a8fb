"""The logit cache: each image's prefix computed once and shared by its questions equals full forward passes; the
distinct pairs of a source fan out to every split; any shard count gives byte-identical tables."""

import logging

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import COLOURS, SHAPES
from test_probes import _image

from lvlm_debias.embedded.corpus import vocabulary_texts
from lvlm_debias.embedded.tiny_llava import TinyLlavaSpec, build_model, build_processor
from lvlm_debias.embedded.tokenizer import build_tokenizer
from lvlm_debias.inputs.probes import probe_inputs
from lvlm_debias.models.prompts import LLAVA_HF, LLAVA_V1_ONE_WORD, build_prompt, without_image
from lvlm_debias.scoring.cache import batch_logit_store, pair_questions, score_pairs
from lvlm_debias.scoring.first_token import FirstTokenSpec
from lvlm_debias.scoring.gather import gather_label_probs, split_tables
from lvlm_debias.scoring.pairs import distinct_pairs, image_batches, shard_batches
from lvlm_debias.scoring.prefix import PromptIds, prefix_logits
from lvlm_debias.scoring.score import YES_NO, next_token_logits, score_questions
from lvlm_debias.tables import write_csv

QUESTIONS = [  # uneven lengths
    "Is there a star?",
    "Is there a red circle in the image?",
    "Is there a blue square in the image at all, anywhere?",
]


def _llava(strategy: str, template: str):
    spec = TinyLlavaSpec(
        image_size=32, patch_size=8, vision_hidden=32, text_hidden=32, max_positions=96,
        vision_feature_select_strategy=strategy,
    )  # fmt: skip
    tokenizer = build_tokenizer(vocabulary_texts(SHAPES, COLOURS, [template, without_image(template)]))
    processor = build_processor(spec, tokenizer)
    torch.manual_seed(1)
    model = build_model(spec, tokenizer).eval()
    processor.tokenizer.padding_side = "left"
    return model, processor


@pytest.mark.parametrize(
    "strategy, template",
    [("full", LLAVA_HF), ("default", LLAVA_HF), ("default", LLAVA_V1_ONE_WORD)],
    ids=["embedded architecture (CLS kept)", "LLaVA-1.5 (CLS dropped)", "LLaVA-1.5 with the paper's system prompt"],
)
@pytest.mark.parametrize("probe", ["naive", "noise", "zero"])
def test_prefix_cached_logits_equal_full_forward_passes(strategy, template, probe):
    model, processor = _llava(strategy, template)
    images = [_image(0), _image(1)]
    prompts = [[build_prompt(template, q) for q in QUESTIONS], [build_prompt(template, q) for q in QUESTIONS[:2]]]
    seeds = [11, 12] if probe == "noise" else None
    ids = PromptIds(processor)
    cached = prefix_logits(model, processor, ids, images, prompts, probe, seeds)
    flat = [p for group in prompts for p in group]
    owners = [i for i, group in enumerate(prompts) for _ in group]
    full = next_token_logits(
        model,
        probe_inputs(
            processor,
            flat,
            probe,
            [images[i] for i in owners],
            None if seeds is None else [seeds[i] for i in owners],
        ),
    )
    assert cached.shape == full.shape == (5, len(processor.tokenizer))
    torch.testing.assert_close(cached, full, atol=1e-4, rtol=0)
    assert torch.equal(cached.argmax(-1), full.argmax(-1))
    # one image at a time (batch size 1) gives the same logits as both images at once
    alone = torch.cat([prefix_logits(model, processor, ids, [im], [ps], probe, None if seeds is None else [s])
                       for im, ps, s in zip(images, prompts, seeds or [None, None], strict=True)])  # fmt: skip
    torch.testing.assert_close(alone, cached, atol=1e-4, rtol=0)


def test_a_prompt_with_another_prefix_is_refused(tiny_llava):
    model, processor = tiny_llava
    other = "USER: Look. <image>\n{question} ASSISTANT:"
    with pytest.raises(ValueError, match="does not share the prefix"):
        prefix_logits(
            model, processor, PromptIds(processor), [_image(0)],
            [[build_prompt(LLAVA_HF, "Is there a star?"), build_prompt(other, "Is there a star?")]],
        )  # fmt: skip


def _split_questions(tmp_path):
    """Three splits about 4 images; positives repeat across splits, as in POPE; question ids count from 0 per split."""
    for i in range(4):
        _image(i).save(tmp_path / f"{i}.png")
    asked = {
        "random": [(0, "circle", "yes"), (0, "star", "no"), (1, "square", "yes"), (2, "circle", "no"),
                   (3, "star", "yes")],
        "popular": [(0, "circle", "yes"), (0, "heart", "no"), (1, "square", "yes"), (3, "star", "yes"),
                    (2, "cross", "no")],
        "adversarial": [(1, "square", "yes"), (0, "circle", "yes"), (2, "triangle", "no"), (3, "star", "yes")],
    }  # fmt: skip
    return {
        split: [
            {"question_id": k, "image": f"{i}.png", "text": f"Is there a {obj} in the image?", "label": y,
             "subset": split}
            for k, (i, obj, y) in enumerate(rows)
        ]
        for split, rows in asked.items()
    }  # fmt: skip


def test_distinct_pairs_group_by_image_and_fan_out():
    x1, y1 = {"image": "x", "text": "q1", "label": "yes"}, {"image": "y", "text": "q1", "label": "no"}
    splits = {"a": [x1, y1, {"image": "x", "text": "q2", "label": "no"}], "b": [y1, x1]}
    pairs = distinct_pairs(splits)
    assert [(p["image"], p["text"]) for p in pairs.pairs] == [("x", "q1"), ("x", "q2"), ("y", "q1")]
    assert pairs.of_split == {"a": [0, 2, 1], "b": [2, 0]}
    # a pair asked twice, even with two labels (noisy data), is scored once; each question keeps its own label
    noisy = {"a": [{"image": "x", "text": "q", "label": "yes"}, {"image": "x", "text": "q", "label": "no"}],
             "b": [{"image": "x", "text": "q", "label": "no"}]}  # fmt: skip
    assert distinct_pairs(noisy).of_split == {"a": [0, 0], "b": [0]}


def test_image_batches_keep_images_whole_and_shards_take_whole_batches():
    pairs = [{"image": name} for name in "aaabbcdddd"]
    # a (3) fits, b (2) would make 5 > 4: new batch; c joins b; d (4) alone
    assert image_batches(pairs, 4) == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]
    # an image with more pairs than a batch gets batches of its own
    assert image_batches(pairs, 3) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    batches = image_batches(pairs, 3)
    assert [shard_batches(batches, s, 3) for s in range(3)] == [[[0, 1, 2], [3, 4, 5]], [[6, 7, 8], [9]], []]
    with pytest.raises(ValueError, match="shard must lie in"):
        shard_batches(batches, 3, 3)


def _cache(tiny_llava, splits, root, shards, batch_size):
    """A source scored through the cache in ``shards`` shards; the splits' tables."""
    model, processor = tiny_llava
    pairs = distinct_pairs(splits)
    batches = image_batches(pairs.pairs, batch_size)
    spec = FirstTokenSpec(top=20, temperatures=(0.5, 1.0))
    parts, firsts, stores = [], [], []
    for shard in range(shards):
        mine = shard_batches(batches, shard, shards)
        scores, first, _ = score_pairs(
            model, processor, pairs.pairs, mine, root,
            template=LLAVA_HF, labels=YES_NO, probes=["naive", "noise"], top_k=100, seed=0, store=spec,
        )  # fmt: skip
        parts.append(scores)
        firsts.append(first)
        stores.append(batch_logit_store(model, processor, pairs.pairs, mine, first, LLAVA_HF, YES_NO))
    refs, _, _ = score_questions(
        model, processor, pair_questions(pairs.pairs), root, template=LLAVA_HF, labels=YES_NO,
        probes=["none", "unk", "zero", "one"], top_k=100, batch_size=32,
    )  # fmt: skip
    probes = ["naive", "none", "unk", "noise", "zero", "one"]
    return {split: split_tables(splits, split, [*parts, refs], firsts, probes, stores) for split in splits}


def test_every_split_gets_its_pairs_rows_and_any_shard_count_gives_identical_tables(tiny_llava, tmp_path):
    splits = _split_questions(tmp_path)
    one = _cache(tiny_llava, splits, tmp_path, 1, 3)
    for shards in (2, 3, 7):
        many = _cache(tiny_llava, splits, tmp_path, shards, 3)
        for split in splits:
            write_csv(one[split][0], tmp_path / "one.csv")
            write_csv(many[split][0], tmp_path / "many.csv")
            assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "many.csv").read_bytes(), (shards, split)
            for field in ("question_id", "top_ids", "top_logits", "log_z"):
                np.testing.assert_array_equal(getattr(many[split][1], field), getattr(one[split][1], field))
            # the logit cache too, bit for bit (its reference passes run the source's fixed batches)
            assert many[split][2].arrays.keys() == one[split][2].arrays.keys()
            for key, value in one[split][2].arrays.items():
                np.testing.assert_array_equal(many[split][2][key], value, err_msg=f"{key} at {shards} shards")
    # against scoring each split alone with whole prompts (today's path): same rows, same values, same argmax
    model, processor = tiny_llava
    for split, questions in splits.items():
        alone, first, _ = score_questions(
            model, processor, questions, tmp_path, template=LLAVA_HF, labels=YES_NO,
            probes=["naive", "none", "unk", "noise", "zero", "one"],
            store=FirstTokenSpec(top=20, temperatures=(0.5, 1.0)), top_k=100, batch_size=32,
        )  # fmt: skip
        table, cached_first, _ = one[split]
        assert (
            table[["question_id", "probe", "label"]].values.tolist()
            == alone[["question_id", "probe", "label"]].values.tolist()
        )
        np.testing.assert_allclose(table[["p_yes", "p_no"]], alone[["p_yes", "p_no"]], atol=1e-5)
        assert (table["p_yes"] > table["p_no"]).tolist() == (alone["p_yes"] > alone["p_no"]).tolist()
        np.testing.assert_array_equal(cached_first.top_ids[:, 0], first.top_ids[:, 0])
        np.testing.assert_allclose(cached_first.top_logits, first.top_logits, atol=1e-4)
    assert set(one["random"][0]["subset"]) == {"random"}


def test_the_cache_does_each_distinct_pair_once(tiny_llava, tmp_path):
    splits = _split_questions(tmp_path)
    model, processor = tiny_llava
    pairs = distinct_pairs(splits)
    n_questions = sum(len(q) for q in splits.values())
    # random's 5, popular's 2 new (0 heart, 2 cross), adversarial's 1 new (2 triangle): 8 of 14 questions
    assert len(pairs.pairs) == 8 < n_questions == 14
    _, _, passes = score_pairs(
        model, processor, pairs.pairs, image_batches(pairs.pairs, 64), tmp_path,
        template=LLAVA_HF, labels=YES_NO, probes=["naive"], top_k=100, seed=0, store=FirstTokenSpec(top=100),
    )  # fmt: skip
    assert passes == {"naive": 4, "naive rows": 8}  # one prefix per image, one suffix row per distinct pair


def test_a_query_token_family_falls_back_to_whole_prompts_and_says_so(tmp_path, caplog):
    from tiny_instructblip import TEMPLATE, save_tiny_instructblip

    from lvlm_debias.models.load import load_model

    model, processor = load_model(str(save_tiny_instructblip(tmp_path / "ib", SHAPES, COLOURS)), device="cpu")
    splits = {
        split: [{**q, "text": q["text"]} for q in questions] for split, questions in _split_questions(tmp_path).items()
    }
    pairs = distinct_pairs(splits)
    with caplog.at_level(logging.INFO, logger="lvlm_debias.scoring.cache"):
        scores, _, passes = score_pairs(
            model, processor, pairs.pairs, image_batches(pairs.pairs, 4), tmp_path,
            template=TEMPLATE, labels=YES_NO, probes=["naive"], top_k=100, seed=0, store=FirstTokenSpec(top=100),
        )  # fmt: skip
    assert "cannot be shared" in caplog.text and passes["naive"] == passes["naive rows"] == 8
    alone, _, _ = score_questions(
        model,
        processor,
        pair_questions(pairs.pairs),
        tmp_path,
        template=TEMPLATE,
        labels=YES_NO,
        probes=["naive"],
        top_k=100,
        batch_size=32,
    )
    pd.testing.assert_frame_equal(scores.reset_index(drop=True), alone, atol=1e-5, check_exact=False)


def test_a_lost_shard_is_named(tiny_llava, tmp_path):
    splits = _split_questions(tmp_path)
    model, processor = tiny_llava
    pairs = distinct_pairs(splits)
    batches = image_batches(pairs.pairs, 3)
    first_shard, first, _ = score_pairs(
        model, processor, pairs.pairs, shard_batches(batches, 0, 2), tmp_path,
        template=LLAVA_HF, labels=YES_NO, probes=["naive"], top_k=100, seed=0, store=FirstTokenSpec(top=100),
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"probe 'naive': 3 scored rows \(3 distinct questions\) for 5 questions"):
        split_tables(splits, "random", [first_shard], [first], ["naive"])


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


def test_questions_sharing_a_pair_within_a_split_share_its_rows_and_keep_their_labels(tiny_llava, tmp_path):
    _image(0).save(tmp_path / "0.png")
    text = "Is there a circle in the image?"
    splits = {"random": [{"question_id": i, "image": "0.png", "text": text, "label": y, "subset": "random"}
                         for i, y in enumerate(["yes", "no", "yes"])]}  # fmt: skip
    tables = _cache(tiny_llava, splits, tmp_path, 2, 2)
    table = tables["random"][0]
    naive = table[table["probe"] == "naive"]
    assert naive["label"].tolist() == ["yes", "no", "yes"] and naive["p_yes"].nunique() == 1
