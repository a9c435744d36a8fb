"""The POPE calibration table from scored questions, against hand-worked predictions."""

import pandas as pd
import pytest

from lvlm_debias.analysis.calibration import (
    bias_table,
    calibration_findings,
    calibration_table,
    debiased,
    method_bins,
    paper_layout,
    probe_accuracy,
    probes_for,
    subset_table,
)


def _scores(rows):
    """rows: (question_id, label, probe, p_yes, p_no)."""
    return pd.DataFrame(rows, columns=["question_id", "label", "probe", "p_yes", "p_no"])


# Naive leans yes (0.7 / 0.3 on everything but question 0). The None reference says 0.8 / 0.2 for every
# question, Unk 0.5 / 0.5. Under None: q_yes ∝ 0.7/0.8 vs q_no ∝ 0.3/0.2 -> "no" for questions 1-3,
# and question 0 (0.9 / 0.1): 0.9/0.8 = 1.125 vs 0.1/0.2 = 0.5 -> "yes".
SCORES = _scores(
    [
        (0, "yes", "naive", 0.9, 0.1),
        (1, "no", "naive", 0.7, 0.3),
        (2, "no", "naive", 0.7, 0.3),
        (3, "yes", "naive", 0.7, 0.3),
    ]
    + [(i, lab, "none", 0.8, 0.2) for i, lab in enumerate(["yes", "no", "no", "yes"])]
    + [(i, lab, "unk", 0.5, 0.5) for i, lab in enumerate(["yes", "no", "no", "yes"])]
)


def test_debiased_methods():
    assert list(debiased(SCORES, "naive").idxmax(axis=1)) == ["yes"] * 4
    assert list(debiased(SCORES, "none").idxmax(axis=1)) == ["yes", "no", "no", "no"]
    assert list(debiased(SCORES, "unk").idxmax(axis=1)) == ["yes"] * 4
    # Both: raw None + Unk = [1.3, 0.7] -> 0.65 / 0.35; 0.7/0.65 = 1.077 vs 0.3/0.35 = 0.857 -> yes
    assert list(debiased(SCORES, "both").idxmax(axis=1)) == ["yes"] * 4


def test_table_rows_and_metrics():
    table = calibration_table({"random": SCORES}, ["none", "unk", "both"])
    assert list(table["method"]) == ["naive", "none", "unk", "both"]
    naive = table.set_index("method").loc["naive"]
    assert naive["accuracy"] == pytest.approx(0.5) and naive["yes_ratio"] == pytest.approx(1.0)
    none = table.set_index("method").loc["none"]
    # predictions yes, no, no, no vs labels yes, no, no, yes: acc 3/4, P 1, R 1/2, F1 2/3
    assert (none["accuracy"], none["precision"], none["recall"]) == pytest.approx((0.75, 1.0, 0.5))
    assert none["f1"] == pytest.approx(2 / 3) and none["yes_ratio"] == pytest.approx(0.25)


def test_findings_are_computed_from_the_table():
    findings = calibration_findings(calibration_table({"random": SCORES}, ["none", "unk"]))
    assert findings[0].startswith("Calibration with the none reference raises F1 over naive on 0/1 split ")
    assert "closer to 50 % on 1/1" in findings[0]
    assert "accuracy on 1/1 (+25.0 points)" in findings[0]  # naive 0.5 -> none 0.75


def test_missing_probe_is_named():
    with pytest.raises(ValueError, match="no rows for probe 'unk'"):
        debiased(SCORES[SCORES.probe != "unk"], "unk")
    with pytest.raises(ValueError, match="unknown calibration method 'vcd'; known methods"):
        debiased(SCORES, "vcd")


def test_image_based_references_use_their_own_probe():
    # Noise says 0.9 / 0.1 for every question: q_yes ∝ 0.7/0.9 = 0.78 vs q_no ∝ 0.3/0.1 = 3 -> "no" for 1-3;
    # question 0: 0.9/0.9 = 1 vs 0.1/0.1 = 1 -> a tie, argmax takes the first label, "yes"
    rows = [(i, lab, "noise", 0.9, 0.1) for i, lab in enumerate(["yes", "no", "no", "yes"])]
    scores = pd.concat([SCORES, _scores(rows)], ignore_index=True)
    assert list(debiased(scores, "noise").idxmax(axis=1)) == ["yes", "no", "no", "no"]
    assert probes_for(["naive", "both", "noise", "one"]) == ["naive", "none", "unk", "noise", "one"]
    with pytest.raises(ValueError, match="unknown methods"):
        probes_for(["vdd"])


def _mmmu_scores():
    """Two subjects, letters A-D. Naive is right on q0, q1 (subject s) and wrong on q2 (subject t); None picks A
    everywhere: right on q0 and q2."""
    rows = []
    for qid, label, subset, naive, none in [
        (0, "A", "s", [0.6, 0.2, 0.1, 0.1], [0.7, 0.1, 0.1, 0.1]),
        (1, "B", "s", [0.1, 0.6, 0.2, 0.1], [0.7, 0.1, 0.1, 0.1]),
        (2, "A", "t", [0.1, 0.1, 0.7, 0.1], [0.4, 0.3, 0.2, 0.1]),
    ]:
        for probe, p in (("naive", naive), ("none", none), ("unk", none)):
            rows.append(
                {
                    "question_id": qid,
                    "probe": probe,
                    "label": label,
                    "subset": subset,
                    "image": f"{qid}.png",
                    **{f"p_{c}": v for c, v in zip("ABCD", p, strict=True)},
                }
            )
    return pd.DataFrame(rows)


def test_mmmu_table_subsets_and_text_only_accuracy():
    scores = _mmmu_scores()
    table = calibration_table({"validation": scores}, ["none"], "mmmu")
    assert table.set_index("method").loc["naive", "accuracy"] == pytest.approx(2 / 3)
    subsets = subset_table({"validation": scores}, ["none"], "mmmu")
    naive = subsets[subsets.method == "naive"].set_index("subset")
    assert naive.loc["s", "accuracy"] == 1.0 and naive.loc["t", "accuracy"] == 0.0
    acc = probe_accuracy(scores, ["naive", "none"], list("ABCD")).set_index(["subset", "probe"])
    assert acc.loc[("s", "none"), "accuracy"] == 0.5 and acc.loc[("t", "none"), "accuracy"] == 1.0
    bias = bias_table({"mmmu/validation": scores}, ["none", "unk"]).set_index("subset")
    # subset t: text alone 1.0 beats naive 0.0 -> flagged; s: 0.5 < 1.0 -> not
    assert bool(bias.loc["t", "text_answerable"]) and not bool(bias.loc["s", "text_answerable"])


def test_method_bins_pool_splits_by_naive_confidence():
    # naive confidence (normalised): q0 0.9 -> bin 0.9-1; q1-q3 0.7 -> bin 0.7-0.8
    bins = method_bins({"a": SCORES, "b": SCORES}, ["naive", "none"], "pope", min_count=3)
    low = bins[(bins.bin == "0.7-0.8") & (bins.method == "none")].iloc[0]
    # in 0.7-0.8 naive says yes to q1-q3 (gold no, no, yes: 1/3 right), none says no (2/3 right); two splits pooled
    assert low["n"] == 6 and low["accuracy"] == pytest.approx(2 / 3) and low["gain"] == pytest.approx(1 / 3)
    empty = bins[(bins.bin == "0.5-0.6") & (bins.method == "none")].iloc[0]
    assert empty["n"] == 0 and not empty["enough"]


def test_paper_layout_puts_methods_in_columns():
    table = calibration_table({"random": SCORES, "popular": SCORES}, ["none"])
    wide = paper_layout(table, ["accuracy", "f1"])
    assert list(wide.columns) == ["split", "metric", "naive", "none"]
    assert list(zip(wide["split"], wide["metric"], strict=True)) == [
        ("random", "accuracy"),
        ("random", "f1"),
        ("popular", "accuracy"),
        ("popular", "f1"),
    ]
    assert wide.loc[0, "none"] == pytest.approx(0.75)
