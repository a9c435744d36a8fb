"""Accuracy by Naive confidence bin and the text-only benchmark-bias table, against hand-worked examples."""

import math

import numpy as np
import pandas as pd
import pytest

from lvlm_debias.analysis.bias import bias_findings, text_only_bias
from lvlm_debias.analysis.bins import confidence_bins

# conf = max of each naive row: 0.55, 0.58 -> bin 0.5-0.6; 0.7 -> 0.7-0.8 (left-closed); 1.0 and 0.95 -> 0.9-1.0
# (the last bin is closed on the right). Naive argmax = 0 everywhere: right on questions 1, 2, 4.
NAIVE_Q = np.array([[0.55, 0.45], [0.58, 0.42], [0.7, 0.3], [1.0, 0.0], [0.95, 0.05]])
GOLD = [1, 0, 0, 1, 0]
# unk argmax = 1, 0, 0, 0, 1: right on questions 0, 1, 2.
UNK_Q = np.array([[0.4, 0.6], [0.7, 0.3], [0.6, 0.4], [0.6, 0.4], [0.3, 0.7]])


def test_confidence_bins_hand_computed():
    out = confidence_bins(NAIVE_Q, {"unk": UNK_Q}, GOLD, min_count=2)
    assert list(out.columns) == ["bin", "lo", "hi", "method", "n", "accuracy", "naive_accuracy", "gain", "enough"]
    assert list(out["bin"]) == [b for b in ["0.5-0.6", "0.6-0.7", "0.7-0.8", "0.8-0.9", "0.9-1"] for _ in range(2)]
    assert list(out["method"]) == ["naive", "unk"] * 5
    unk = out[out["method"] == "unk"].set_index("bin")
    assert list(unk["n"]) == [2, 0, 1, 0, 2]  # empty bins are kept
    # 0.5-0.6: naive 1/2, unk 2/2; 0.7-0.8: both 1/1; 0.9-1: naive 1/2, unk 0/2
    np.testing.assert_allclose(unk["accuracy"], [1.0, np.nan, 1.0, np.nan, 0.0])
    np.testing.assert_allclose(unk["naive_accuracy"], [0.5, np.nan, 1.0, np.nan, 0.5])
    np.testing.assert_allclose(unk["gain"], [0.5, np.nan, 0.0, np.nan, -0.5])
    assert list(unk["enough"]) == [True, False, False, False, True]
    naive = out[out["method"] == "naive"]
    np.testing.assert_allclose(naive["gain"], [0.0, np.nan, 0.0, np.nan, 0.0])
    assert list(unk["lo"]) == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9])
    assert list(unk["hi"]) == pytest.approx([0.6, 0.7, 0.8, 0.9, 1.0])


def test_low_confidence_bin_only_when_occupied():
    # K = 3: conf 0.4 < 0.5 goes to "<0.5" with lo = 1/3; conf 0.6 to 0.6-0.7.
    out = confidence_bins(np.array([[0.4, 0.3, 0.3], [0.2, 0.6, 0.2]]), {}, [1, 1])
    assert list(out["bin"]) == ["<0.5", "0.5-0.6", "0.6-0.7", "0.7-0.8", "0.8-0.9", "0.9-1"]
    assert out["lo"].iloc[0] == pytest.approx(1 / 3)
    assert list(out["n"]) == [1, 0, 1, 0, 0, 0]
    assert out["accuracy"].iloc[0] == 0.0 and out["accuracy"].iloc[2] == 1.0
    # K = 2 never has one
    assert "<0.5" not in set(confidence_bins(NAIVE_Q, {}, GOLD)["bin"])


def test_confidence_bins_errors():
    with pytest.raises(ValueError, match="'unk'.*\\(4, 2\\)"):
        confidence_bins(NAIVE_Q, {"unk": UNK_Q[:4]}, GOLD)
    with pytest.raises(ValueError, match="gold"):
        confidence_bins(NAIVE_Q, {}, GOLD[:4])
    with pytest.raises(ValueError, match="gold"):
        confidence_bins(NAIVE_Q, {}, [0, 1, 2, 0, 0])
    with pytest.raises(ValueError, match="'naive'"):
        confidence_bins(NAIVE_Q, {"naive": NAIVE_Q}, GOLD)
    with pytest.raises(ValueError, match="normalised"):
        confidence_bins(NAIVE_Q * 2, {}, GOLD)
    with pytest.raises(ValueError, match="increasing"):
        confidence_bins(NAIVE_Q, {}, GOLD, edges=(0.5, 0.5, 1.0))


# (subset, naive, none, unk), 10 questions each:
#   colour_facts: best text 0.7 (none), gap +0.1 -> answerable
#   count:        best text 0.5 (unk),  gap 0    -> answerable (matches)
#   spatial:      best 0.6, gap -0.2; ocr: best 0.35, gap -0.55; art: best 0.58, gap -0.02 (answerable at tol 0.05)
ACC = [
    ("colour_facts", 0.6, 0.7, 0.5),
    ("count", 0.5, 0.4, 0.5),
    ("spatial", 0.8, 0.5, 0.6),
    ("ocr", 0.9, 0.3, 0.35),
    ("art", 0.6, 0.55, 0.58),
]


def _tidy(rows, subset_col="subset"):
    probes = ["naive", "none", "unk"]
    return pd.DataFrame(
        [
            {subset_col: s, "probe": p, "accuracy": a, "n": 10}
            for s, *accs in rows
            for p, a in zip(probes, accs, strict=True)
        ]
    )


def test_text_only_bias_hand_computed():
    table = text_only_bias(_tidy(ACC))
    assert list(table.columns) == [
        "subset",
        "n",
        "naive_accuracy",
        "none_accuracy",
        "unk_accuracy",
        "best_text_only",
        "gap",
        "text_answerable",
    ]
    assert list(table["subset"]) == ["colour_facts", "count", "spatial", "ocr", "art"]
    assert list(table["n"]) == [10] * 5
    assert list(table["best_text_only"]) == pytest.approx([0.7, 0.5, 0.6, 0.35, 0.58])
    assert list(table["gap"]) == pytest.approx([0.1, 0.0, -0.2, -0.55, -0.02])
    assert list(table["text_answerable"]) == [True, True, False, False, False]
    loose = text_only_bias(_tidy(ACC), tolerance=0.05)
    assert list(loose["text_answerable"]) == [True, True, False, False, True]


def test_bias_findings():
    findings = bias_findings(text_only_bias(_tidy(ACC)))
    assert findings[0] == "Text alone matches or beats the image on 2/5 subsets: colour_facts, count."
    assert "colour_facts" in findings[1] and "+10.0 points" in findings[1]
    assert len(findings) == 2


def test_bias_findings_with_overall_row_and_other_subset_column():
    # the "overall" row of accuracy_by_subject is reported apart, not counted as a subset
    rows = [("art", 0.6, 0.7, 0.5), ("math", 0.8, 0.4, 0.5), ("overall", 0.7, 0.55, 0.5)]
    table = text_only_bias(_tidy(rows, "subject"), subset_col="subject", text_only=["none"])
    assert list(table.columns) == [
        "subset",
        "n",
        "naive_accuracy",
        "none_accuracy",
        "best_text_only",
        "gap",
        "text_answerable",
    ]
    findings = bias_findings(table)
    assert findings[0] == "Text alone matches or beats the image on 1/2 subsets: art."
    assert findings[2] == "Over all questions, the best text-only input is -15.0 points from the image."
    none_found = bias_findings(table[table["subset"] != "art"])
    assert none_found[0] == "Text alone matches or beats the image on 0/1 subsets."


def test_text_only_bias_errors():
    acc = _tidy(ACC)
    with pytest.raises(ValueError, match="'unk'"):
        text_only_bias(acc[acc["probe"] != "unk"])
    with pytest.raises(ValueError, match="'noise'"):
        text_only_bias(acc, text_only=["none", "noise"])
    uneven = acc.copy()
    uneven.loc[(uneven["subset"] == "ocr") & (uneven["probe"] == "none"), "n"] = 9
    with pytest.raises(ValueError, match="'none'.*ocr"):
        text_only_bias(uneven)
    with pytest.raises(ValueError, match="tolerance"):
        text_only_bias(acc, tolerance=-0.1)
    assert not math.isnan(text_only_bias(acc)["gap"].iloc[0])
