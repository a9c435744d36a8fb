"""Decoding sweeps from stored first-position distributions, checked against transformers' own warpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from lvlm_debias.decoding.sampling import (
    DecodingConfig,
    config_grid,
    expected_accuracy,
    expected_confusion,
    label_distribution,
    sample_tokens,
    sampling_distribution,
    stored_topk,
    tail_error_bound,
)

TEMPERATURES = [0.2, 0.7, 1.0, 1.5]
GRID = config_grid(TEMPERATURES, [0.5, 0.9, 1.0], [0, 1, 5, 20])


def warped_softmax(logits: torch.Tensor, config: DecodingConfig) -> np.ndarray:
    """The full-vocabulary distribution as ``generate`` composes the warpers: temperature, top-k, top-p, softmax."""
    ids = torch.zeros((logits.shape[0], 1), dtype=torch.long)
    scores = TemperatureLogitsWarper(config.temperature)(ids, logits)
    if config.top_k:
        scores = TopKLogitsWarper(config.top_k)(ids, scores)
    if config.top_p < 1:
        scores = TopPLogitsWarper(config.top_p)(ids, scores)
    return torch.softmax(scores, dim=-1).numpy()


def derived(logits: torch.Tensor, k: int, config: DecodingConfig):
    """(top_ids, probs, tail_kept, bound) derived from what the scoring pass stores."""
    top_ids, top_logits, log_z = stored_topk(logits, k, TEMPERATURES)
    column = log_z[:, TEMPERATURES.index(config.temperature)]
    probs, tail = sampling_distribution(top_logits, column, config)
    return top_ids, probs, tail, tail_error_bound(top_logits, column, config)


def derived_with(logits: torch.Tensor, temperatures: list[float], config: DecodingConfig):
    """As derived(), storing the whole vocabulary."""
    top_ids, top_logits, log_z = stored_topk(logits, logits.shape[1], temperatures)
    column = log_z[:, temperatures.index(config.temperature)]
    probs, tail = sampling_distribution(top_logits, column, config)
    return top_ids, probs, tail, tail_error_bound(top_logits, column, config)


def derived_with_k(logits: torch.Tensor, k: int, config: DecodingConfig):
    """As derived(), with log_z for config.temperature alone."""
    top_ids, top_logits, log_z = stored_topk(logits, k, [config.temperature])
    probs, tail = sampling_distribution(top_logits, log_z[:, 0], config)
    return top_ids, probs, tail, tail_error_bound(top_logits, log_z[:, 0], config)


@pytest.fixture(scope="module")
def logits() -> torch.Tensor:
    return torch.randn(8, 50, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2.5


def test_hand_example_top_p():
    # logits [2, 1, 0], T = 1: softmax = [0.665, 0.245, 0.090]
    # ascending order (token 2, 1, 0), cumulative: [0.090, 0.335, 1.0]; 1 - top_p = 0.3
    # remove cumulative <= 0.3 -> token 2 removed; renormalise [0.665, 0.245] / 0.910 = [0.731, 0.269, 0]
    top_ids, top_logits, log_z = stored_topk(torch.tensor([[2.0, 1.0, 0.0]]), 3, [1.0])
    probs, tail = sampling_distribution(top_logits, log_z[:, 0], DecodingConfig(top_p=0.7))
    assert top_ids.tolist() == [[0, 1, 2]]
    expected = np.exp([2.0, 1.0]) / np.exp([2.0, 1.0]).sum()  # [0.7311, 0.2689]
    np.testing.assert_allclose(probs[0], [expected[0], expected[1], 0.0], atol=1e-12)
    np.testing.assert_allclose(probs[0], [0.731, 0.269, 0.0], atol=1e-3)
    assert abs(tail[0]) < 1e-12


def test_top_k_keeps_ties_at_the_kth_value():
    # logits [2, 1, 1, 0], top_k = 2: the 2nd largest is 1, and both tokens equal to it stay (>=, as transformers)
    # softmax over [2, 1, 1] = e^2, e, e / (e^2 + 2e) = [0.576, 0.212, 0.212]
    logits = torch.tensor([[2.0, 1.0, 1.0, 0.0]], dtype=torch.float64)
    _, probs, tail, bound = derived_with(logits, [1.0], DecodingConfig(top_k=2))
    np.testing.assert_allclose(np.sort(probs[0])[::-1], [0.576, 0.212, 0.212, 0.0], atol=1e-3)
    np.testing.assert_allclose(np.sort(probs[0]), np.sort(warped_softmax(logits, DecodingConfig(top_k=2))[0]))
    assert tail[0] == 0 and bound[0] == 0


@pytest.mark.parametrize("config", GRID, ids=[c.name for c in GRID])
def test_full_vocabulary_matches_transformers(logits, config):
    top_ids, probs, tail, bound = derived(logits, logits.shape[1], config)
    reference = np.take_along_axis(warped_softmax(logits, config), top_ids, axis=1)
    np.testing.assert_allclose(probs, reference, rtol=0, atol=1e-9)
    np.testing.assert_allclose(tail, 0.0, atol=1e-9)
    assert np.all(bound == 0)


@pytest.mark.parametrize("config", GRID, ids=[c.name for c in GRID])
def test_top20_of_50_within_documented_bound(logits, config):
    top_ids, probs, tail, bound = derived(logits, 20, config)
    full = warped_softmax(logits, config)
    reference = np.take_along_axis(full, top_ids, axis=1)
    reference_tail = 1.0 - reference.sum(axis=1)
    err = np.maximum(np.abs(probs - reference).max(axis=1), np.abs(tail - reference_tail))
    assert np.all(err <= bound + 1e-9), (err, bound)
    np.testing.assert_allclose(probs.sum(axis=1) + tail, 1.0, atol=1e-12)
    if config.top_k or config.top_p == 1:  # stored set covers what top-k keeps, or no top-p: exact (no ties here)
        assert np.all(err <= 1e-9)
    if 0 < config.top_k < 20 or (config.top_k == 0 and config.top_p == 1):
        assert np.all(bound == 0)
    if config.top_k == 20:  # an unseen 21st token could tie the 20th logit, wherever the tail has mass
        full_tail = 1 - np.take_along_axis(warped_softmax(logits, DecodingConfig(config.temperature)), top_ids, 1).sum(
            1
        )
        np.testing.assert_array_equal(bound > 0, full_tail > 1e-12)


def test_top_p_removes_cumulative_equal_to_cutoff():
    # four equal logits: softmax 0.25 each (exact in binary), ascending cumulative [0.25, 0.5, 0.75, 1.0];
    # top_p = 0.5 -> cutoff 0.5: "<=" removes two tokens -> [0.5, 0.5, 0, 0] (tied tokens: which two is arbitrary)
    logits = torch.zeros(1, 4, dtype=torch.float64)
    _, probs, tail, _ = derived_with(logits, [1.0], DecodingConfig(top_p=0.5))
    np.testing.assert_array_equal(np.sort(probs[0]), [0.0, 0.0, 0.5, 0.5])
    np.testing.assert_array_equal(np.sort(warped_softmax(logits, DecodingConfig(top_p=0.5))[0]), [0.0, 0.0, 0.5, 0.5])
    assert tail[0] == 0


def test_surviving_tail_is_bounded_not_exact():
    # two large logits, 40 small distinct ones; 5 stored (tail mass 0.49): top-p = 0.7 keeps part of the tail
    small = -0.01 * torch.arange(40, dtype=torch.float64)
    logits = torch.cat([torch.tensor([3.0, 2.0], dtype=torch.float64), small])[None]
    config = DecodingConfig(top_p=0.7)
    top_ids, probs, tail, bound = derived_with_k(logits, 5, config)
    reference = np.take_along_axis(warped_softmax(logits, config), top_ids, axis=1)
    err = max(np.abs(probs - reference).max(), abs(tail[0] - (1 - reference.sum())))
    assert tail[0] > 0 and 0 < err <= bound[0]
    # bound (c + 1) m / p: c = 1 stored token at the smallest stored logit (-0.02), m its probability
    m = np.exp(-0.02) / np.exp(logits[0].numpy()).sum()
    assert bound[0] == pytest.approx(2 * m / 0.7)


def test_ties_with_unseen_tokens_stay_within_bound():
    # 40 equal small logits, 3 of them stored: transformers may remove stored tied tokens and keep unseen ones
    logits = torch.cat([torch.tensor([[3.0, 2.0]]), torch.zeros(1, 40)], dim=1).double()
    for top_p in (0.5, 0.7, 0.9):
        config = DecodingConfig(top_p=top_p)
        top_ids, probs, tail, bound = derived_with_k(logits, 5, config)
        reference = np.take_along_axis(warped_softmax(logits, config), top_ids, axis=1)
        err = max(np.abs(probs - reference).max(), abs(tail[0] - (1 - reference.sum())))
        assert err <= bound[0] + 1e-12


def test_top_k_beyond_stored_is_estimated():
    logits = torch.randn(4, 30, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for config in (DecodingConfig(top_k=10), DecodingConfig(top_k=30), DecodingConfig(top_k=10, top_p=0.9)):
        top_ids, probs, tail, bound = derived_with_k(logits, 5, config)
        full = np.take_along_axis(warped_softmax(logits, config), top_ids, axis=1)
        err = np.maximum(np.abs(probs - full).max(axis=1), np.abs(tail - (1 - full.sum(axis=1))))
        assert np.all(err <= bound + 1e-9)
        if config.top_k >= logits.shape[1]:  # top_k >= V: the estimate is exact
            assert np.all(err <= 1e-9)
        if config.top_k == 10 and config.top_p == 1:
            # kept tail estimated by its upper bound min(t, (top_k - k') p_min) = min(t, 5 p_min), then renormalised
            _, top_logits, log_z = stored_topk(logits, 5, [1.0])
            p = np.exp(top_logits - log_z)
            kept = np.minimum(1 - p.sum(1), 5 * p[:, -1])
            np.testing.assert_allclose(tail, kept / (p.sum(1) + kept), rtol=1e-12)


def test_matches_generate_end_to_end():
    """``generate``'s processed first-step scores (float32) against the derivation from its raw logits."""
    torch.manual_seed(0)
    spec = LlamaConfig(
        vocab_size=100,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=32,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    model = LlamaForCausalLM(spec).eval()
    with torch.no_grad():
        model.lm_head.weight.normal_(0, 0.5)  # logits with a spread of about 2
    input_ids = torch.randint(3, 100, (6, 5), generator=torch.Generator().manual_seed(0))
    for config in [DecodingConfig(0.7, 0.9, 0), DecodingConfig(1.0, 0.8, 20), DecodingConfig(1.5, 1.0, 0)]:
        out = model.generate(
            input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=1,
            output_scores=True,
            output_logits=True,
            return_dict_in_generate=True,
            **config.generate_kwargs(),
        )
        raw, processed = out.logits[0], out.scores[0]
        top_ids, top_logits, log_z = stored_topk(raw, 30, [config.temperature])
        probs, tail = sampling_distribution(top_logits, log_z[:, 0], config)
        bound = tail_error_bound(top_logits, log_z[:, 0], config)
        reference = np.take_along_axis(torch.softmax(processed.double(), -1).numpy(), top_ids, axis=1)
        err = np.maximum(np.abs(probs - reference).max(axis=1), np.abs(tail - (1 - reference.sum(axis=1))))
        assert np.all(err <= bound + 1e-5), config.name  # float32 in generate


def test_generate_kwargs_pass_top_k_explicitly():
    # generate's default top_k is 50; the end-to-end test above (V = 100, top_p = 1) fails without top_k=0
    assert DecodingConfig(0.5).generate_kwargs() == {"do_sample": True, "temperature": 0.5, "top_p": 1.0, "top_k": 0}
    assert DecodingConfig(do_sample=False).generate_kwargs() == {"do_sample": False}


def test_greedy_is_one_hot_on_argmax(logits):
    config = DecodingConfig(temperature=0.7, do_sample=False)
    top_ids, probs, tail, bound = derived(logits, 20, config)
    assert config.name == "greedy"
    np.testing.assert_array_equal(probs[:, 0], 1.0)
    np.testing.assert_array_equal(probs[:, 1:], 0.0)
    np.testing.assert_array_equal(tail, 0.0)
    np.testing.assert_array_equal(top_ids[:, 0], logits.argmax(dim=1).numpy())
    assert np.all(bound == 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": 0.0}, "temperature must be a finite number > 0, got 0.0"),
        ({"temperature": -1}, "temperature must be a finite number > 0, got -1"),
        ({"top_p": 0.0}, r"top_p must be in \(0, 1\], got 0.0"),
        ({"top_p": 1.5}, r"top_p must be in \(0, 1\], got 1.5"),
        ({"top_k": -1}, "top_k must be an integer >= 0 .*, got -1"),
        ({"top_k": 2.5}, "top_k must be an integer >= 0 .*, got 2.5"),
    ],
)
def test_config_validation_names_field_and_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DecodingConfig(**kwargs)


def test_config_name_and_grid_order():
    assert DecodingConfig(0.2, 0.9, 50).name == "T=0.2,p=0.9,k=50"
    grid = config_grid([0.2, 1.0], [0.9, 1.0], [0, 5])
    assert [c.name for c in grid[:3]] == ["T=0.2,p=0.9,k=0", "T=0.2,p=0.9,k=5", "T=0.2,p=1,k=0"]
    assert len(grid) == 8 and grid[-1] == DecodingConfig(1.0, 1.0, 5)


def test_stored_topk_shapes_and_log_z():
    logits = torch.tensor([[0.0, 3.0, 1.0], [2.0, 2.0, -1.0]])
    top_ids, top_logits, log_z = stored_topk(logits, 5, [1.0, 0.5])
    assert top_ids.shape == (2, 3) and top_ids.dtype == np.int64 and top_logits.dtype == np.float64
    assert top_ids[0].tolist() == [1, 2, 0]
    np.testing.assert_allclose(log_z[0], [np.log(1 + np.e**3 + np.e), np.log(1 + np.e**6 + np.e**2)])
    with pytest.raises(ValueError, match="k must be an integer >= 1, got 0"):
        stored_topk(logits, 0, [1.0])


def test_wrong_temperature_log_z_is_caught():
    top_ids, top_logits, log_z = stored_topk(torch.tensor([[2.0, 1.0, 0.0]]), 3, [1.0])
    with pytest.raises(ValueError, match="log_z does not match top_logits at temperature 0.2"):
        sampling_distribution(top_logits, log_z[:, 0], DecodingConfig(temperature=0.2))
    with pytest.raises(ValueError, match="top_logits must be sorted"):
        sampling_distribution(top_logits[:, ::-1], log_z[:, 0], DecodingConfig())


def test_label_distribution_other_column_takes_unlabelled_and_tail():
    probs = np.array([[0.5, 0.2, 0.1], [0.6, 0.4, 0.0]])
    tail = np.array([0.2, 0.0])
    top_ids = np.array([[3, 1, 0], [0, 2, 3]])
    token_labels = np.array([1, -1, 0, 0])  # ids 2 and 3 -> label 0 ("yes"), id 0 -> label 1 ("no"), id 1 -> none
    dist = label_distribution(probs, tail, top_ids, token_labels, 2)
    np.testing.assert_allclose(dist, [[0.5, 0.1, 0.2 + 0.2], [0.4, 0.6, 0.0]])
    with pytest.raises(ValueError, match=r"token_labels must lie in \[-1, 1\], got \[-1, 2\]"):
        label_distribution(probs, tail, top_ids, np.array([1, -1, 2, 0]), 2)
    # an id past the table (a padding row of a model's output layer wider than its tokenizer) spells no label
    wide = label_distribution(probs, tail, np.array([[5, 1, 0], [0, 2, 3]]), token_labels, 2)
    np.testing.assert_allclose(wide, [[0.0, 0.1, 0.5 + 0.2 + 0.2], [0.4, 0.6, 0.0]])


def test_expected_accuracy_and_confusion_hand_example():
    # columns: yes, no, other
    dist = np.array([[0.8, 0.1, 0.1], [0.3, 0.7, 0.0], [0.5, 0.25, 0.25]])
    gold = np.array([0, 1, 1])
    # E[acc] = (0.8 + 0.7 + 0.25) / 3 = 0.58333
    assert expected_accuracy(dist, gold) == pytest.approx(1.75 / 3)
    confusion = expected_confusion(dist, gold)
    # gold yes: question 0; gold no: questions 1 and 2
    np.testing.assert_allclose(confusion, [[0.8, 0.8], [0.1, 0.95], [0.1, 0.25]])
    np.testing.assert_allclose(confusion.sum(axis=0), [1, 2])
    with pytest.raises(ValueError, match=r"gold must lie in \[0, 1\], got \[0, 2\]"):
        expected_accuracy(dist, np.array([0, 2, 1]))


def test_sample_tokens_deterministic_and_matches_probs():
    probs = np.array([[0.5, 0.3, 0.0, 0.1]])
    tail = np.array([0.1])
    n = 20000
    rows = np.repeat(probs, n, axis=0)
    draws = sample_tokens(rows, np.repeat(tail, n), seed=7)
    np.testing.assert_array_equal(draws, sample_tokens(rows, np.repeat(tail, n), seed=7))
    assert not np.array_equal(draws, sample_tokens(rows, np.repeat(tail, n), seed=8))
    assert 2 not in draws  # a zero-probability token is never drawn
    # each frequency within 4 standard errors sqrt(p (1 - p) / n) of its probability
    for value, p in [(0, 0.5), (1, 0.3), (3, 0.1), (-1, 0.1)]:
        freq = np.mean(draws == value)
        assert abs(freq - p) <= 4 * np.sqrt(p * (1 - p) / n), (value, freq, p)
