"""The POPE calibration table from scored questions, against hand-worked predictions."""

import pandas as pd
import pytest

from lvlm_debias.analysis.calibration import calibration_findings, calibration_table, debiased


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
    assert findings[0].startswith("Calibration with the none reference raises F1 over naive on 0/1 splits")
    assert "closer to 50 % on 1/1" in findings[0]


def test_missing_probe_is_named():
    with pytest.raises(ValueError, match="no rows for probe 'unk'"):
        debiased(SCORES[SCORES.probe != "unk"], "unk")
    with pytest.raises(ValueError, match="unknown method 'vcd'"):
        debiased(SCORES, "vcd")
