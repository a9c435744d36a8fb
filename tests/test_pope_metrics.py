"""POPE metrics against a hand-computed confusion matrix."""

import pytest

from lvlm_debias.metrics import pope_metrics


def test_hand_computed_example():
    # TP: 0, 4; FP: 1; TN: 2; FN: 3
    m = pope_metrics(["yes", "yes", "no", "no", "yes"], ["yes", "no", "no", "yes", "yes"])
    assert m == pytest.approx({"accuracy": 3 / 5, "precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "yes_ratio": 3 / 5})


def test_unbalanced_precision_and_recall():
    # TP 1, FP 3, FN 0, TN 0: P = 1/4, R = 1, F1 = 2 * 0.25 / 1.25 = 0.4
    m = pope_metrics(["yes"] * 4, ["yes", "no", "no", "no"])
    assert m["precision"] == pytest.approx(0.25)
    assert m["recall"] == pytest.approx(1.0)
    assert m["f1"] == pytest.approx(0.4)
    assert m["yes_ratio"] == pytest.approx(1.0)


def test_never_yes_gives_zero_precision_recall_f1():
    m = pope_metrics(["no", "no"], ["yes", "no"])
    assert (m["precision"], m["recall"], m["f1"], m["accuracy"], m["yes_ratio"]) == (0.0, 0.0, 0.0, 0.5, 0.0)


def test_rejects_other_strings_and_mismatched_lengths():
    with pytest.raises(ValueError, match="'Yes'"):
        pope_metrics(["Yes"], ["yes"])
    with pytest.raises(ValueError, match="2 predictions but 1 labels"):
        pope_metrics(["yes", "no"], ["yes"])
