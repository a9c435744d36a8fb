"""Attention analysis (paper, Fig. 2): token groups, shares by hand, the runner on a tiny checkpoint, eager only."""

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import ROOT, write_questions

from lvlm_debias.analysis.attention import attention_findings, generation_trend, shares_wide, text_dominance
from lvlm_debias.inputs.probes import image_token_id, probe_inputs
from lvlm_debias.models.load import load_entry
from lvlm_debias.models.prompts import LLAVA_HF, build_prompt
from lvlm_debias.plots.attention import attention_figure, attention_generation_figure
from lvlm_debias.plots.figures import save_figure
from lvlm_debias.report.blocks import model_blocks
from lvlm_debias.report.paper import Bootstrap, load_paper_numbers
from lvlm_debias.scoring.attention import (
    answer_attention,
    attention_with_entry,
    generated_lengths,
    prompt_attention,
    spread,
)
from lvlm_debias.scoring.groups import (
    IMAGE_ENTRY,
    group_masks,
    group_shares,
    token_shares,
    top_tokens,
    with_generated,
)

I = 4  # noqa: E741  (the image token id in the hand-built rows)


def _rows(masks):
    return {g: m.int().tolist() for g, m in masks.items()}


def test_group_masks_by_hand_padding_in_no_group():
    """Checked to fail without the protection: with ``real &`` dropped from the system mask, row 0's two left pads
    join the system group (``[1, 1, 1, 1, 0, ...]``)."""
    ids = torch.tensor([[0, 0, 1, 5, I, I, 7, 8], [1, 5, 6, I, I, I, 7, 8]])
    mask = torch.tensor([[0, 0, 1, 1, 1, 1, 1, 1], [1] * 8])
    assert _rows(group_masks(ids, mask, I)) == {
        "system": [[0, 0, 1, 1, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0, 0, 0]],
        "image": [[0, 0, 0, 0, 1, 1, 0, 0], [0, 0, 0, 1, 1, 1, 0, 0]],
        "question": [[0, 0, 0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0, 1, 1]],
        "generated": [[0] * 8, [0] * 8],
    }
    # None: no image tokens; the system group ends where the image was (n_system real tokens)
    ids = torch.tensor([[0, 0, 1, 5, 7, 8], [1, 5, 6, 9, 7, 8]])
    mask = torch.tensor([[0, 0, 1, 1, 1, 1], [1] * 6])
    masks = group_masks(ids, mask, I, n_system=[2, 3])
    assert _rows(masks)["system"] == [[0, 0, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0]]
    assert _rows(masks)["question"] == [[0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 1]]
    assert not masks["image"].any()
    with pytest.raises(ValueError, match=r"rows \[0, 1\] have no image token 4: pass n_system"):
        group_masks(ids, mask, I)
    grown = with_generated(masks, 2)
    assert _rows(grown)["generated"] == [[0] * 6 + [1, 1]] * 2
    assert _rows(grown)["system"][0] == [0, 0, 1, 1, 0, 0, 0, 0]


def test_group_shares_by_hand_with_padding():
    """Row 0 is left-padded (key 0). Layer 1: the model gives the pad no weight; layer 2: the pad holds 0.2 of head
    0's weight, which must not count (denominator 0.8). Checked to fail without the protection: dividing by the sum
    over all keys instead of the real ones gives layer 2's row-0 system share 0.2/2 + 0.1/2 = 0.15, not 0.175."""
    ids = torch.tensor([[0, 1, I, 8], [1, I, I, 8]])
    mask = torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1]])
    masks = group_masks(ids, mask, I)
    attention = torch.tensor(
        [
            [  # layer 1: (rows, heads, keys)
                [[0.0, 0.2, 0.5, 0.3], [0.0, 0.1, 0.1, 0.8]],
                [[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25]],
            ],
            [  # layer 2: the pad of row 0 has weight in head 0
                [[0.2, 0.2, 0.4, 0.2], [0.0, 0.1, 0.1, 0.8]],
                [[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25]],
            ],
        ]
    )
    shares = group_shares(attention, masks, ("system", "image", "question"))
    expected = torch.tensor(
        [
            [[0.15, 0.3, 0.55], [0.175, 0.5, 0.325]],
            [[(0.25 + 0.1) / 2, (0.5 + 0.1) / 2, (0.25 + 0.8) / 2], [0.175, 0.5, 0.325]],
        ]
    )
    torch.testing.assert_close(shares, expected)
    torch.testing.assert_close(shares.sum(-1), torch.ones(2, 2))
    # one generated token: the new position's keys are the prompt and itself
    grown = with_generated(masks, 1)
    step = torch.tensor([[[[0.0, 0.1, 0.2, 0.3, 0.4]], [[0.1, 0.1, 0.1, 0.1, 0.6]]]])  # (1 layer, 2 rows, 1 head, 5)
    torch.testing.assert_close(group_shares(step, grown), torch.tensor([[[0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.1, 0.6]]]))


def test_top_tokens_by_hand():
    """Image tokens count as one entry, repeated tokens of a group add up, padding is left out, and a row without a
    token counts 0 in the mean. Checked to fail without the protection: counting the pad key (weight 0.3, token 'x')
    puts ('system', 'x') into the table."""
    ids = torch.tensor([[0, 1, I, I, 8, 8], [1, 2, I, I, 8, 9]])
    mask = torch.tensor([[0, 1, 1, 1, 1, 1], [1] * 6])
    masks = group_masks(ids, mask, I)
    weights = torch.tensor([[0.3, 0.1, 0.2, 0.1, 0.1, 0.2], [0.1, 0.1, 0.3, 0.3, 0.1, 0.1]])
    tokens = [["x", "<s>", "<image>", "<image>", "a", "a"], ["<s>", "U", "<image>", "<image>", "a", "b"]]
    shares = token_shares(weights, tokens, masks)
    table = top_tokens(shares, n_rows=2, top=4)
    records = [(r["group"], r["token"], round(r["share"], 6), r["rows"]) for r in table.to_dict("records")]
    assert records == [
        ("image", IMAGE_ENTRY, 0.45, 2),  # (0.3 + 0.6) / 2
        ("question", "a", 0.2, 2),  # (0.1 + 0.2 + 0.1) / 2
        ("system", "<s>", 0.1, 2),
        ("question", "b", 0.05, 1),
    ]
    assert list(table["rank"]) == [1, 2, 3, 4]


def test_group_masks_follow_the_processors_image_expansion(tiny_llava, tiny_spec):
    """The image group is where the processor put its image tokens, as many as the vision tower gives features
    (16 patches + CLS for this tiny spec, never a constant in the code); system and question are the text around it.
    Checked to fail without the feature: with a hard-coded 576-token image span the masks disagree."""
    model, processor = tiny_llava
    prompts = [build_prompt(LLAVA_HF, "Is there a star?"), build_prompt(LLAVA_HF, "Is there a red circle in it?")]
    from test_probes import _image

    inputs = probe_inputs(processor, prompts, "naive", [_image(0), _image(1)])
    assert image_token_id(processor) == model.config.image_token_id
    masks = group_masks(inputs["input_ids"], inputs["attention_mask"], model.config.image_token_id)
    features = model.get_image_features(pixel_values=inputs["pixel_values"]).pooler_output
    assert [int(n) for n in masks["image"].sum(-1)] == [len(f) for f in features] == [17, 17]
    tokens = [processor.tokenizer.convert_ids_to_tokens(row.tolist()) for row in inputs["input_ids"]]
    for n, expect in enumerate([["Is", "there", "a", "star", "?"], ["Is", "there", "a", "red", "circle", "in"]]):
        system = [t for t, m in zip(tokens[n], masks["system"][n], strict=True) if m]
        question = [t for t, m in zip(tokens[n], masks["question"][n], strict=True) if m]
        assert system == ["<s>", "USER", ":"]
        assert question[: len(expect)] == expect and question[-2:] == ["ASSISTANT", ":"]
    assert int(inputs["attention_mask"][0].eq(0).sum()) > 0  # the shorter row is padded, and the pads are in no group
    union = masks["system"] | masks["image"] | masks["question"]
    assert torch.equal(union, inputs["attention_mask"].bool())


def test_spread_and_generated_lengths():
    assert spread(list(range(10)), 4) == [0, 3, 6, 9] and spread([1, 2], 5) == [1, 2]
    new = torch.tensor([[5, 2, 0, 0], [5, 6, 7, 8], [2, 0, 0, 0]])  # EOS = 2, pads after it
    assert generated_lengths(new, {2}).tolist() == [2, 4, 1]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tiny_llava):
    model, processor = tiny_llava
    folder = tmp_path_factory.mktemp("ckpt")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return str(folder)


ENTRY = {"prompt": LLAVA_HF, "device": "cpu"}


def test_eager_only_for_the_attention_analysis(checkpoint, tmp_path):
    """The scoring path keeps transformers' fast default; the attention runner refuses any other implementation.
    Checked to fail without the protection: without require_eager, the sdpa model returns no attention weights and
    the call fails later with torch's "stack expects a non-empty TensorList", not with this message."""
    model, processor = load_entry(checkpoint, ENTRY)
    assert model.config._attn_implementation != "eager"
    inputs = probe_inputs(processor, [build_prompt(LLAVA_HF, "Is there a star?")], "none")
    with pytest.raises(ValueError, match="needs attn_implementation='eager'"):
        answer_attention(model, inputs)
    eager, _ = load_entry(checkpoint, ENTRY, attn_implementation="eager")
    assert eager.config._attn_implementation == "eager"


def test_runner_shares_sum_to_one_and_do_not_depend_on_padding(checkpoint, tmp_path):
    """On the tiny checkpoint: per probe and layer the groups' shares sum to 1, None has no image group, and batching
    (rows of different lengths, left-padded) does not change the shares. Generation: shares sum to 1 per step, the
    number of samples never grows. Checked to fail without the padding protection: without ``real &`` in the system
    mask the batched shares differ from the one-row ones (pads counted as system)."""
    questions = write_questions(tmp_path, 4)
    questions[1]["text"] = "Is there a big red star in the picture?"  # a longer row: the others get padded
    settings = {"n_samples": 4, "probes": ["naive", "none", "noise"], "max_new_tokens": 4, "batch_size": 4, "top": 5}
    tables = attention_with_entry(checkpoint, ENTRY, questions, tmp_path, settings)
    layers, tokens, generation, texts = tables.layers, tables.tokens, tables.generation, tables.texts
    sums = layers.groupby(["probe", "layer"])["share"].sum()
    assert len(sums) == 3 * 2 and (sums - 1).abs().max() < 1e-5
    none = layers[(layers["probe"] == "none") & (layers["group"] == "image")]
    assert (none["share"] == 0).all() and (none["tokens"] == 0).all()
    assert set(layers.loc[(layers["probe"] == "naive") & (layers["group"] == "image"), "tokens"]) == {17.0}
    assert list(tokens["probe"].unique()) == ["naive", "none", "noise"] and tokens.groupby("probe").size().max() == 5
    assert IMAGE_ENTRY not in set(tokens.loc[tokens["probe"] == "none", "token"])
    steps = generation.groupby("step")["share"].sum()
    assert (steps - 1).abs().max() < 1e-5 and steps.index[0] == 0
    counts = generation.groupby("step")["n_samples"].first()
    assert counts.iloc[0] == 4 and counts.is_monotonic_decreasing and len(texts) == 4
    assert (generation.loc[generation["step"] == 0, "group"] == "generated").sum() == 1
    assert generation.loc[(generation["step"] == 0) & (generation["group"] == "generated"), "share"].iloc[0] == 0
    # the per-question and per-sample tables: what the report's bootstrap resamples; their means are the tables'
    per_question = tables.questions.groupby(["probe", "layer", "group"], sort=False)[["share", "tokens"]].mean()
    pd.testing.assert_frame_equal(
        per_question.reset_index(), layers.drop(columns="n_samples"), check_dtype=False, atol=1e-6, rtol=0
    )
    assert tables.questions["question_id"].nunique() == 4
    per_sample = tables.samples.groupby(["step", "group"], sort=False)["share"].agg(["mean", "size"]).reset_index()
    assert per_sample["mean"].to_numpy() == pytest.approx(generation["share"].to_numpy(), abs=1e-6)
    assert (per_sample["size"].to_numpy() == generation["n_samples"].to_numpy()).all()
    assert set(tables.samples["image"]) == {q["image"] for q in questions}

    model, processor = load_entry(checkpoint, ENTRY, attn_implementation="eager")
    one, _, one_questions = prompt_attention(
        model, processor, questions, tmp_path, template=LLAVA_HF, batch_size=1, top=10
    )
    batched, _, batched_questions = prompt_attention(
        model, processor, questions, tmp_path, template=LLAVA_HF, batch_size=4, top=10
    )
    pd.testing.assert_frame_equal(one, batched, atol=1e-5, rtol=0)
    pd.testing.assert_frame_equal(one_questions, batched_questions, atol=1e-5, rtol=0)


def _layers_table():
    rows = []
    for probe, image_tokens in (("naive", 576), ("none", 0)):
        for layer, (system, image) in enumerate([(0.2, 0.5), (0.5, 0.1)], 1):
            image = image if image_tokens else 0.0
            for group, share, tokens in (
                ("system", system, 5),
                ("image", image, image_tokens),
                ("question", 1 - system - image, 15),
            ):
                rows.append(
                    {"probe": probe, "layer": layer, "group": group, "share": share, "tokens": tokens, "n_samples": 8}
                )
    return pd.DataFrame(rows)


def _generation_table():
    rows = []
    for step, image, n in ((0, 0.4, 8), (1, 0.3, 8), (2, 0.2, 5)):
        for group, share in (("system", 0.3), ("image", image), ("question", 0.5 - image), ("generated", 0.2)):
            rows.append({"step": step, "group": group, "share": share, "n_samples": n})
    return pd.DataFrame(rows)


def test_findings_by_hand():
    """Findings read the tables: last layer split, layer trend, generation trend (None has no image: no finding)."""
    table = _layers_table()
    assert attention_findings(table, _generation_table()) == [
        "naive, last layer (2): text (system + question) 90.0 %, image 10.0 % of the answer position's attention; "
        "image tokens are 576 of 596 prompt tokens.",
        "naive: the image share falls from 50.0 % in layer 1 to 10.0 % in layer 2.",
        "Describing the image, the image share (mean over layers and heads) falls by 10.00 points per generated token "
        "(least-squares trend over steps 0-2, each step weighted by its samples): 40.0 % at step 0 (the answer "
        "position, 8 samples), 20.0 % at step 2 (5 samples still generating).",
    ]
    assert text_dominance(table)[1] is True
    image_heavy = table.assign(share=table["group"].map({"system": 0.05, "image": 0.9, "question": 0.05}))
    assert text_dominance(image_heavy)[1] is False
    one_step = _generation_table().query("step == 0")
    assert "every sample stopped after its first token" in attention_findings(table, one_step)[-1]
    wide = shares_wide(table)
    assert list(wide.columns) == ["probe", "layer", "system", "image", "question", "n_system", "n_image", "n_question"]
    assert wide.iloc[1][["probe", "layer", "image", "n_image"]].tolist() == ["naive", 2, 0.1, 576]


def test_generation_words_follow_the_trend_not_the_last_step():
    """The image share falls over the steps most samples take part in, and the last step (2 samples still generating)
    reads higher than step 0: the finding says "falls", as its verdict does. Checked to fail before the fix: the
    words read the endpoints ("rises from 55.0 % at step 0 ... to 65.0 % at step 3") while the check said falls."""
    rows = []
    for step, image, n in ((0, 0.55, 8), (1, 0.45, 8), (2, 0.40, 8), (3, 0.65, 2)):
        for group, share in (("system", 0.1), ("image", image), ("question", 0.8 - image), ("generated", 0.1)):
            rows.append({"step": step, "group": group, "share": share, "n_samples": n})
    words, slope = generation_trend(pd.DataFrame(rows))
    assert slope < 0 and "falls by" in words and "rises" not in words
    assert "55.0 % at step 0 (the answer position, 8 samples), 65.0 % at step 3 (2 samples still generating)" in words
    # weighted by the samples: 8, 8, 8, 2 -> t_bar = 15 / 13 (the unweighted trend over the 4 steps is +1.0 point)
    t, m, n = np.array([0, 1, 2, 3.0]), np.array([0.55, 0.45, 0.40, 0.65]), np.array([8, 8, 8, 2.0])
    tb, mb = (n * t).sum() / n.sum(), (n * m).sum() / n.sum()
    assert slope == pytest.approx((n * (t - tb) * (m - mb)).sum() / (n * (t - tb) ** 2).sum())


def _question_table():
    """Four naive questions whose mean shares are ``_layers_table``'s (image 50 % in layer 1, 10 % in layer 2)."""
    rows = []
    for qid, (image_1, image_2) in enumerate([(0.4, 0.05), (0.6, 0.15), (0.5, 0.1), (0.5, 0.1)]):
        for layer, system, image in ((1, 0.2, image_1), (2, 0.5, image_2)):
            for group, share, tokens in (
                ("system", system, 5),
                ("image", image, 576),
                ("question", 1 - system - image, 15),
            ):
                rows.append({"probe": "naive", "question_id": qid, "layer": layer, "group": group, "share": share,
                             "tokens": tokens})  # fmt: skip
    return pd.DataFrame(rows)


def _sample_table():
    """Eight described images: image share 0.4, 0.3, 0.2 (+/- 0.02) at steps 0, 1, 2; three stop after step 1."""
    rows = []
    for sample in range(8):
        for step in range(3 if sample < 5 else 2):
            image = 0.4 - 0.1 * step + 0.02 * (-1) ** sample
            for group, share in (("system", 0.3), ("image", image), ("question", 0.5 - image), ("generated", 0.2)):
                rows.append({"sample": sample, "image": f"{sample}.png", "step": step, "group": group, "share": share})
    return pd.DataFrame(rows)


def test_report_block_and_paper_check(tmp_path):
    """The report's attention block: tables, both figures, computed findings, and the paper's Fig. 2 claims checked
    on the per-question and per-sample tables with their bootstrap intervals: the naive last layer's text share
    (90 %, interval above 50 %: yes), the image share falling from the first to the last layer, the negative
    least-squares trend in generation; then the opposite tables (no), and an exactly even split (inconclusive).
    Checked to fail without the feature: before this block existed no block was built."""
    table, generation = _layers_table(), _generation_table()
    outputs = {}
    questions, samples = _question_table(), _sample_table()
    tables = {"attention": table, "attention_generation": generation, "attention_questions": questions,
              "attention_generation_samples": samples}  # fmt: skip
    for key, frame in tables.items():
        outputs[key] = tmp_path / f"{key}.csv"
        frame.to_csv(outputs[key], index=False)
    outputs["attention_tokens"] = tmp_path / "tokens.csv"
    pd.DataFrame(
        {"probe": ["naive"], "rank": [1], "group": ["system"], "token": ["<s>"], "share": [0.4], "rows": [8]}
    ).to_csv(outputs["attention_tokens"], index=False)
    outputs["attention_png"] = tmp_path / "attention.png"
    outputs["attention_generation_png"] = tmp_path / "attention_generation.png"
    save_figure(attention_figure(table), outputs["attention_png"])
    save_figure(attention_generation_figure(generation), outputs["attention_generation_png"])
    claims, _, _ = load_paper_numbers(ROOT / "config/paper_numbers.yaml")
    [block] = model_blocks(outputs, claims, bootstrap=Bootstrap(seed=0, resamples=2000))
    assert block.title == "Attention to system, image and question tokens (paper, Fig. 2)"
    assert block.findings == attention_findings(table, generation) and len(block.findings) == 3
    assert len(block.tables) == 3 and len(block.figures) == 2
    assert all(f.startswith("data:image/png;base64,") for f in block.figures)
    assert "&lt;s&gt;" in block.tables[1][1] and "40.0" in block.tables[1][1]
    dominance, depth, generation_claim = block.paper
    assert dominance["source"] == "Fig. 2" and dominance["verdict"] == "yes"
    assert dominance["this run"].startswith(
        "naive, last layer (2): text (system + question) share of the answer position's attention: 90.0 % (95 % CI "
        "[86.2, 93.7], paired bootstrap, 2000 resamples); image 10.0 %; image tokens are 576 of 596 prompt tokens; "
        "4 questions; yes when the interval lies above 50 %"
    )  # text 95, 85, 90, 90 %: resampled means from 85 to 95
    assert (depth["verdict"], depth["estimate"]) == ("yes", "+40.0 points")
    assert depth["this run"].startswith(
        "naive: image share in layer 1 - in layer 2: +40.0 points (95 % CI [+36.3, +43.8]"
    )
    # the pooled slope over the samples is the finding's trend of the per-step means, weighted by the samples
    steps = samples.groupby(["step", "group"], as_index=False)["share"].mean()
    steps["n_samples"] = steps["step"].map(samples.groupby("step")["sample"].nunique())
    assert generation_trend(steps)[1] == pytest.approx(-0.0982, abs=1e-4)
    assert (generation_claim["verdict"], generation_claim["estimate"]) == ("yes", "-9.8 points per token")
    assert generation_claim["interval"] == "[-10.3, -9.3]"
    # the opposite trends disagree with the paper
    rising = samples.assign(share=samples["share"].where(samples["group"] != "image", samples["step"] / 10))
    rising.to_csv(outputs["attention_generation_samples"], index=False)
    deeper = questions.assign(layer=3 - questions["layer"])  # layer 1 <-> 2: the image share rises with depth
    deeper.to_csv(outputs["attention_questions"], index=False)
    [block] = model_blocks(outputs, claims, bootstrap=Bootstrap(seed=0, resamples=2000))
    # last layer now: text exactly 50 % on every question, [50, 50]: neither most nor not, inconclusive
    assert [row["verdict"] for row in block.paper] == ["inconclusive", "no", "no"]
