"""Reading label probabilities from the top-k next tokens."""

import math

import torch

from lvlm_debias.scoring.labels import YES_NO, display_token, label_of_token, label_probs, normalise_token


def test_normalise_token_merges_case_and_boundary_marks():
    assert [normalise_token(t) for t in ["\u2581Yes", "\u0120no", " YES", "No"]] == ["yes", "no", "yes", "no"]
    assert [display_token(t) for t in ["\u2581Yes", "\u0120A", "\u2581"]] == ["Yes", "A", "\u2581"]


def test_label_of_token_maps_variants_and_leaves_others():
    tokens = ["\u2581Yes", "yes", "\u2581No", "NO", "\u2581maybe", "Yes.", "<unk>"]
    assert label_of_token(tokens, YES_NO).tolist() == [0, 0, 1, 1, -1, -1, -1]


def test_label_probs_sums_variants_within_top_k_only():
    tokens = ["Yes", "yes", "No", "other", "no"]
    probs = torch.tensor([[0.40, 0.10, 0.20, 0.25, 0.05]])
    logits = probs.log()
    token_labels = label_of_token(tokens, YES_NO)
    # top-4 holds Yes, yes, No, other: "no" (0.05) falls outside
    out = label_probs(logits, token_labels, n_labels=2, top_k=4)
    assert torch.allclose(out, torch.tensor([[0.50, 0.20]]), atol=1e-6)
    out = label_probs(logits, token_labels, n_labels=2, top_k=5)
    assert torch.allclose(out, torch.tensor([[0.50, 0.25]]), atol=1e-6)


def test_label_probs_is_a_softmax_of_logits():
    logits = torch.tensor([[0.0, math.log(3.0)]])  # softmax = [0.25, 0.75]
    out = label_probs(logits, torch.tensor([1, 0]), n_labels=2, top_k=100)
    assert torch.allclose(out, torch.tensor([[0.75, 0.25]]))


def test_logits_wider_than_the_tokenizer_spell_no_label_past_its_end():
    """LLaVA-1.5's output has 32064 logits for a 32002-token tokenizer: a padding id in the top-k must not index past
    the label table (it did: IndexError), and its mass is no label's."""
    token_labels = torch.tensor([0, 1, -1])  # yes, no, other: the tokenizer's 3 ids
    logits = torch.log(torch.tensor([[0.2, 0.1, 0.1, 0.6]]))  # id 3 is a padding row of the output layer
    torch.testing.assert_close(label_probs(logits, token_labels, 2, top_k=4), torch.tensor([[0.2, 0.1]]))
