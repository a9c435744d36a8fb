"""Decoding sweeps from stored first-position distributions: hand-computed metrics, and agreement with real
``model.generate`` sampling on the embedded architecture."""

import numpy as np
import pandas as pd
import pytest
import torch
from test_probes import _image

from lvlm_debias.analysis.sweep import expected_metrics, sweep_configs, sweep_questions, sweep_split, sweep_summary
from lvlm_debias.benchmarks import answer_parser
from lvlm_debias.decoding.sampling import DecodingConfig, label_distribution, sampling_distribution
from lvlm_debias.inputs.probes import probe_inputs
from lvlm_debias.models.prompts import LLAVA_HF, build_prompt
from lvlm_debias.scoring.continuation import Continuations
from lvlm_debias.scoring.first_token import FirstTokenSpec
from lvlm_debias.scoring.score import YES_NO, next_token_logits, token_label_index


def test_expected_pope_metrics_by_hand():
    # q0 gold yes: P(yes, no, other) = 0.6, 0.3, 0.1; q1 gold no: 0.2, 0.7, 0.1
    # TP 0.6; FP 0.2 + 0.1 (other on a "no" question); FN 0.3 + 0.1; accuracy (0.6 + 0.7) / 2
    dist = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1]])
    m = expected_metrics("pope", dist, pd.DataFrame({"label": ["yes", "no"]}))
    p, r = 0.6 / 0.9, 0.6 / 1.0
    assert m["accuracy"] == pytest.approx(0.65)
    assert (m["precision"], m["recall"]) == pytest.approx((p, r))
    assert m["f1"] == pytest.approx(2 * p * r / (p + r)) and m["yes_ratio"] == pytest.approx(0.45)


def test_expected_mme_score_by_hand():
    # one image, one subtask: right with probability 0.5 and 0.8 -> acc 0.65, acc+ 0.5 * 0.8, score 105
    dist = np.array([[0.5, 0.5, 0.0], [0.1, 0.8, 0.1]])
    answers = pd.DataFrame({"label": ["yes", "no"], "subset": ["count", "count"], "pair": ["a", "a"]})
    m = expected_metrics("mme", dist, answers)
    assert (m["accuracy"], m["acc_plus"], m["score"]) == pytest.approx((0.65, 0.4, 105))


def _stored(logits):
    """FirstToken for hand logits over a 4-token vocabulary: 0 = yes, 1 = no, 2 and 3 = other words."""
    spec = FirstTokenSpec(top=4, temperatures=(0.5, 1.0))
    return spec.take(torch.tensor(logits, dtype=torch.float64)).with_ids(list(range(len(logits))))


def test_non_label_draws_are_continued_and_parsed():
    first = _stored([[0.0, -1.0, 3.0, -5.0], [4.0, 0.0, 0.0, -5.0]])
    answers = pd.DataFrame({"label": ["no", "yes"]}, index=[0, 1])
    calls = []

    def continue_answer(rows, tokens, config):
        calls.append((rows, tokens, config.name))
        return ["No, I don't see one."] * len(rows)

    table = sweep_split(
        "pope",
        answers,
        first,
        np.array([0, 1, -1, -1]),
        [DecodingConfig(do_sample=False)],
        0,
        answer_parser("pope", "vcd"),
        continue_answer,
    )
    # greedy: q0's first token is word 2 (not a label) -> generated, parsed as "no" (right); q1 says yes (right)
    assert calls == [([0], [2], "greedy")]
    row = table.iloc[0]
    assert row["continued"] == 1 and row["sampled_accuracy"] == 1.0 and row["parser"] == "vcd"
    # the expected metric counts q0's non-label mass as wrong: accuracy = (0 + 1) / 2
    assert row["expected_accuracy"] == pytest.approx(0.5) and row["other_mass"] == pytest.approx(0.5)


def test_per_question_distributions_give_the_expected_metrics():
    """The per-question table (what the report's bootstrap resamples) holds the distributions whose expected metrics
    the sweep reports: accuracy = mean p(gold), F1 from the summed expected TP, FP, FN."""
    first = _stored([[2.0, 0.5, 1.0, -1.0], [0.0, 1.5, 0.2, 0.1], [1.0, 1.0, 1.0, 1.0]])
    answers = pd.DataFrame({"label": ["yes", "no", "yes"]}, index=[2, 0, 1])  # not in stored order
    configs = [DecodingConfig(do_sample=False), DecodingConfig(0.5, 1.0, 0), DecodingConfig(1.0, 0.9, 2)]
    token_labels = np.array([0, 1, -1, -1])
    table = sweep_split("pope", answers, first, token_labels, configs, 0, answer_parser("pope", "vcd")).set_index(
        "config"
    )
    rows = sweep_questions("pope", answers, first, token_labels, configs)
    assert list(rows.columns) == ["config", "question_id", "label", "p_yes", "p_no", "p_other"]
    assert rows["question_id"].tolist() == [2, 0, 1] * 3
    for config, per in rows.groupby("config", sort=False):
        yes = per["label"] == "yes"
        gold = np.where(yes, per["p_yes"], per["p_no"])
        tp, fp = per["p_yes"][yes].sum(), (per["p_yes"] + per["p_other"])[~yes].sum()
        fn = (per["p_no"] + per["p_other"])[yes].sum()
        assert per[["p_yes", "p_no", "p_other"]].sum(axis=1).to_numpy() == pytest.approx(1.0)
        assert table.loc[config, "expected_accuracy"] == pytest.approx(gold.mean())
        assert table.loc[config, "expected_f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))


def test_summary_picks_default_and_best():
    default, configs = sweep_configs(
        {"default": {"temperature": 1.0}, "temperatures": [0.5, 1.0], "top_ps": [1.0], "top_ks": [0]}
    )
    assert [c.name for c in configs] == ["greedy", "T=1,p=1,k=0", "T=0.5,p=1,k=0"]
    sweep = pd.DataFrame(
        {"config": [c.name for c in configs], "do_sample": [False, True, True], "expected_f1": [0.8, 0.6, 0.7],
         "parser": "vcd"}
    )  # fmt: skip
    row = sweep_summary({"pope/random": sweep, "pope/popular": sweep}, default).iloc[0]
    assert row["default"] == pytest.approx(0.6) and row["best_sampling_config"] == "T=0.5,p=1,k=0"
    assert row["best_overall_config"] == "greedy" and row["gain"] == pytest.approx(0.2)
    assert row["parser"] == "vcd"  # the parser that read the sampled answers' continuations


def assert_matches_generate(model, processor, config, prompt_text="Is there a circle in the image?"):
    """The first-token distribution derived from the stored top logits agrees with the frequencies of 4000 real
    ``model.generate(do_sample=True, ...)`` draws: every token within 5 standard errors (plus 0.002)."""
    prompt = [build_prompt(LLAVA_HF, prompt_text)]
    inputs = probe_inputs(processor, prompt, "naive", [_image(3)])
    vocab = len(processor.tokenizer)
    first = FirstTokenSpec(top=vocab, temperatures=(config.temperature,)).take(next_token_logits(model, inputs))
    probs, tail = sampling_distribution(first.top_logits, first.log_z_at(config.temperature), config)
    assert tail[0] == pytest.approx(0.0, abs=1e-9)
    exact = np.zeros(vocab)
    exact[first.top_ids[0]] = probs[0]

    n = 4000
    torch.manual_seed(0)
    out = model.generate(
        **inputs,
        max_new_tokens=1,
        num_return_sequences=n,
        pad_token_id=processor.tokenizer.pad_token_id,
        **config.generate_kwargs(),
    )
    drawn = np.bincount(out[:, -1].numpy(), minlength=vocab) / n
    se = np.sqrt(exact * (1 - exact) / n)
    assert np.all(np.abs(drawn - exact) <= 5 * se + 0.002), np.abs(drawn - exact).max()
    labels = label_distribution(probs, tail, first.top_ids, token_label_index(processor, YES_NO).numpy(), 2)
    assert labels.sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    "config",
    [DecodingConfig(0.3, 1.0, 0), DecodingConfig(0.5, 0.8, 0), DecodingConfig(1.0, 1.0, 3)],
    ids=lambda c: c.name,
)
def test_exact_distribution_matches_model_generate(tiny_llava, config):
    model, processor = tiny_llava
    assert_matches_generate(model, processor, config)


def test_continuation_starts_with_the_drawn_token_and_is_seeded(tiny_llava):
    model, processor = tiny_llava
    prompts = [build_prompt(LLAVA_HF, "Is there a star in the image?")]
    yes_id = processor.tokenizer.convert_tokens_to_ids("Yes")
    prompts = prompts + [build_prompt(LLAVA_HF, "What colour is the circle?")]
    stored = np.array([[yes_id], [yes_id]])
    cont = Continuations(
        model, processor, prompts, lambda i: _image(5 + i), stored, seed=1, max_new_tokens=4, batch_size=64
    )
    config = DecodingConfig(1.0, 1.0, 0)
    texts = cont([0, 1], [yes_id, -1], config)
    assert texts[0].split()[0] == "Yes" and texts == cont([0, 1], [yes_id, -1], config)
    assert not texts[1].startswith("Yes")  # drawn outside the stored ids
    # batching does not change what a forced first token is
    assert cont([0], [yes_id], config)[0].split()[0] == "Yes"
