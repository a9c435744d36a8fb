"""The first-token method table with its nulls (analysis.baselines), against hand-worked examples."""

import math

import numpy as np
import pandas as pd
import pytest

from lvlm_debias.analysis.baselines import method_findings, method_table, sampled_dist, split_rows, yes_shift
from lvlm_debias.scoring.store import LogitStore

# Two questions, vocabulary of 3 tokens (complete: every token stored): yes (label 0), no (label 1), "the" (-1).
# q0 (gold yes): logits [ln 6, ln 3, ln 1] -> softmax [0.6, 0.3, 0.1]; q1 (gold no): tokens no, yes, the with
# logits [ln 5, ln 4, ln 1] -> [0.5, 0.4, 0.1].
NAIVE = np.log(np.array([[6.0, 3.0, 1.0], [5.0, 4.0, 1.0]]))
LABEL = np.array([[0, 1, -1], [1, 0, -1]])
LOG_Z = np.log(np.array([[10.0], [10.0]]))
# the None reference, on the same ids: q0 [ln 6, ln 1, ln 1] (image-free says yes), q1 uniform
AT_NONE = np.log(np.array([[6.0, 1.0, 1.0], [1.0, 1.0, 1.0]]))


def _store() -> LogitStore:
    return LogitStore(
        {
            "question_id": np.array([0, 1]),
            "naive_logits": NAIVE,
            "naive_label": LABEL,
            "naive_log_z": LOG_Z,
            "at_none": AT_NONE,
            "at_unk": AT_NONE,
            "temperatures": np.array([1.0]),
            "vocab_size": np.array(3),
        }
    )


def _scores() -> pd.DataFrame:
    # label probabilities as rule label_probs writes them: naive [0.6, 0.3] and [0.4, 0.5]; None [0.8, 0.1], [0.3, 0.3]
    rows = [
        (0, "yes", "naive", 0.6, 0.3),
        (1, "no", "naive", 0.4, 0.5),
        (0, "yes", "none", 0.8, 0.1),
        (1, "no", "none", 0.3, 0.3),
    ]
    return pd.DataFrame(rows, columns=["question_id", "label", "probe", "p_yes", "p_no"])


def test_sampled_dist_plain_cut_and_contrast_by_hand():
    plain, exact = sampled_dist(_store(), 1.0)
    np.testing.assert_allclose(plain, [[0.6, 0.3, 0.1], [0.4, 0.5, 0.1]])
    assert exact.all()
    # cut at beta 0.4: q0 keeps p >= 0.24 (yes, no) -> [2/3, 1/3]; q1 keeps >= 0.2 (no, yes) -> [4/9, 5/9]
    cut, _ = sampled_dist(_store(), 1.0, 0.4)
    np.testing.assert_allclose(cut, [[2 / 3, 1 / 3, 0], [4 / 9, 5 / 9, 0]])
    # VDD-None alpha 1 after the cut: q0 c = 2 l - l_none: yes 2 ln 6 - ln 6 = ln 6, no 2 ln 3 - 0 = ln 9 -> [0.4, 0.6]
    vdd, _ = sampled_dist(_store(), 1.0, 0.4, AT_NONE, 1.0)
    np.testing.assert_allclose(vdd[0], [0.4, 0.6, 0.0])
    # q1: the reference is uniform, so c = 2 l: no 2 ln 5, yes 2 ln 4 -> [16, 25] / 41
    np.testing.assert_allclose(vdd[1], [16 / 41, 25 / 41, 0.0])


def test_yes_shift_answers_yes_for_the_largest_margins():
    margin = np.array([0.5, -1.0, 2.0, 0.5])
    assert yes_shift(margin, 0.5).tolist() == [True, False, True, False]  # k 2: 2.0, then the first 0.5
    assert yes_shift(margin, 0.0).tolist() == [False] * 4
    assert yes_shift(margin, 1.0).tolist() == [True] * 4
    assert yes_shift(margin, 0.3).tolist() == [False, False, True, False]  # round(1.2) = 1


def test_rows_and_their_yes_shift_nulls():
    rows, gold_yes, exact = split_rows(_scores(), _store(), ["none"], ["vdd-none"], 1.0, 0.4, 1.0)
    assert [(r.method, r.kind, r.matches) for r in rows] == [
        ("greedy", "baseline", ""),
        ("sampling", "baseline", ""),
        ("cut-only", "null baseline", ""),
        ("yes-shift", "null baseline", "sampling"),
        ("vdd-none", "contrast", ""),
        ("yes-shift", "null baseline", "vdd-none"),
        ("none", "calibration", ""),
        ("yes-shift", "null baseline", "none"),
    ]
    assert gold_yes.tolist() == [True, False]
    assert exact.all()
    # greedy: q0 yes (0.6 > 0.3), q1 no (0.4 < 0.5)
    np.testing.assert_allclose(rows[0].dist[:, 0], [1, 0])
    # None calibration: q0 0.6/0.8... normalised: naive [2/3, 1/3], p_ref [8/9, 1/9] -> yes 0.75 vs no 3 -> no
    np.testing.assert_allclose(rows[6].dist[:, 0], [0, 0])
    # its yes-shift null at yes-ratio 0 answers no everywhere; sampling's (yes-ratio 0.5) says yes to q0 (margin
    # ln 2 > ln 0.8)
    np.testing.assert_allclose(rows[7].dist[:, 0], [0, 0])
    np.testing.assert_allclose(rows[3].dist[:, 0], [1, 0])


def test_method_table_estimates_intervals_and_verdicts():
    table = method_table({"random": _scores()}, {"random": _store()}, ["none"], ["vdd-none"], 1.0, 0.4, 1.0, 200, 0)
    by = {(r.method, r.matches): r for r in table.itertuples()}
    greedy = by[("greedy", "")]
    assert (greedy.accuracy, greedy.f1, greedy.yes_ratio) == (1.0, 1.0, 0.5)
    sampling = by[("sampling", "")]
    # accuracy (0.6 + 0.5) / 2; yes-ratio (0.6 + 0.4) / 2; TP 0.6, FP 0.4, FN 0.4 -> F1 1.2 / 2
    assert sampling.accuracy == pytest.approx(0.55)
    assert sampling.yes_ratio == pytest.approx(0.5)
    assert sampling.f1 == pytest.approx(0.6)
    vdd = by[("vdd-none", "")]
    # accuracy (0.4 + 25/41) / 2; vs cut-only: cut-only accuracy (2/3 + 5/9) / 2
    assert vdd.accuracy == pytest.approx((0.4 + 25 / 41) / 2)
    assert vdd.accuracy_vs_cut_only == pytest.approx((0.4 + 25 / 41) / 2 - (2 / 3 + 5 / 9) / 2)
    assert vdd.accuracy_vs_greedy == pytest.approx(vdd.accuracy - 1.0)
    assert vdd.accuracy_low <= vdd.accuracy <= vdd.accuracy_high
    # the paired difference is below 0 on every resample of two questions that both favour greedy: "no"
    assert vdd.accuracy_vs_greedy_verdict == "no"
    calibrated = by[("none", "")]
    assert calibrated.yes_ratio == 0.0 and calibrated.accuracy == 0.5
    # None calibration answers "no" everywhere, exactly like its yes-shift null: a difference of 0, inconclusive
    assert calibrated.f1_vs_yes_shift == 0.0
    assert calibrated.f1_vs_yes_shift_verdict == "inconclusive"
    assert math.isnan(by[("cut-only", "")].f1_vs_greedy)  # a null is compared with nothing
    findings = method_findings(table)
    assert findings[0].startswith("vdd-none: f1 beats its yes-shift null on ")
    assert "yes-ratio" in findings[1]


def test_a_contrast_the_store_cannot_derive_is_named():
    with pytest.raises(ValueError, match=r"unknown first-token contrasts \['vcd'\]"):
        split_rows(_scores(), _store(), [], ["vcd"], 1.0, 0.1, 1.0)


def test_batch_calibration_recomputes_its_reference_per_resample():
    rows, gold_yes, _ = split_rows(_scores(), _store(), ["batch"], [], 1.0, 0.4, 1.0)
    batch = rows[4]
    assert batch.method == "batch" and callable(batch.dist)
    # resample [q0 twice, q1 never]: p_ref = [2/3, 1/3] (+eps) -> q0 yes by the eps (x / (x + eps) grows with x),
    # q1 [4/9, 5/9] / p_ref = [2/3, 5/3] -> no; resample [1, 1]: p_ref [5/9, 4/9] -> q0 [1.2, 0.75] yes, q1 no
    dist = batch.dist(np.array([[2.0, 0.0], [1.0, 1.0]]))
    assert dist.shape == (2, 2, 3)
    np.testing.assert_array_equal(dist[..., 0], [[1, 0], [1, 0]])


def test_the_schemas_baselines_enums_are_the_registries():
    import yaml
    from conftest import ROOT

    from lvlm_debias.analysis.baselines import CONTRASTS
    from lvlm_debias.calibration import CALIBRATION_METHODS

    section = yaml.safe_load((ROOT / "config/schema.yaml").read_text())["properties"]["baselines"]["properties"]
    assert section["contrasts"]["items"]["enum"] == list(CONTRASTS)
    assert section["calibrations"]["items"]["enum"] == [m for m in CALIBRATION_METHODS if m != "naive"]


def test_the_table_reads_back_from_csv_with_its_kinds(tmp_path):
    table = method_table({"random": _scores()}, {"random": _store()}, ["none"], ["vdd-none"], 1.0, 0.4, 1.0, 50, 0)
    table.to_csv(tmp_path / "t.csv", index=False)
    back = pd.read_csv(tmp_path / "t.csv")
    assert back["kind"].notna().all()
    assert set(back["kind"]) == {"baseline", "null baseline", "contrast", "calibration"}


def test_generated_answers_become_method_rows_with_their_own_yes_shift_null():
    """Answers by generation (rule contrastive_answers): one row per (setting, method), one-hot over (yes, no,
    other), each beside a yes-shift null matched to its yes-ratio; a missing answer is named."""
    generated = pd.DataFrame(
        {
            "question_id": [0, 1, 0, 1],
            "setting": ["default"] * 4,
            "method": ["m3id", "m3id", "icd", "icd"],
            "prediction": ["yes", "yes", "no", "other"],
        }
    )
    rows, gold_yes, _ = split_rows(_scores(), _store(), [], [], 1.0, 0.4, 1.0, generated)
    by_name = {(r.method, r.matches): r for r in rows}
    np.testing.assert_array_equal(by_name[("m3id [default]", "")].dist, [[1, 0, 0], [1, 0, 0]])
    np.testing.assert_array_equal(by_name[("icd [default]", "")].dist, [[0, 1, 0], [0, 0, 1]])
    # m3id says yes to both: its null says yes to both; icd to none: its null says no to both
    np.testing.assert_array_equal(by_name[("yes-shift", "m3id [default]")].dist[:, 0], [1, 1])
    np.testing.assert_array_equal(by_name[("yes-shift", "icd [default]")].dist[:, 0], [0, 0])
    table = method_table({"s": _scores()}, {"s": _store()}, [], [], 1.0, 0.4, 1.0, 50, 0, {"s": generated})
    icd = table[table["method"] == "icd [default]"].iloc[0]
    # icd: q0 gold yes said no (wrong), q1 gold no said "other" (wrong): accuracy 0; its null says no to both: 0.5
    assert icd["kind"] == "generation" and icd["accuracy"] == 0 and icd["yes_ratio"] == 0
    assert icd["accuracy_vs_yes_shift"] == pytest.approx(-0.5) and icd["accuracy_vs_greedy"] == pytest.approx(-1.0)
    assert any(line.startswith("icd [default]: f1") for line in method_findings(table))
    with pytest.raises(ValueError, match=r"m3id \[default\] has no generated answer for 1 of the split's 2"):
        split_rows(_scores(), _store(), [], [], 1.0, 0.4, 1.0, generated.iloc[1:])


def test_a_constant_reference_is_named_as_identical_to_its_yes_shift_null():
    """Contextual calibration divides every question by one p_ref: a threshold on the naive margin, so it answers
    as its yes-shift null on every resample, and the findings say so (a per-question reference does not)."""
    # None here says yes to q1 alone (0.4 / 0.1 > 0.5 / 0.9) though q0 has the larger naive margin: not a threshold
    refs = [
        (0, "yes", "na", 0.9, 0.1),
        (1, "no", "na", 0.9, 0.1),
        (0, "yes", "none", 0.9, 0.1),
        (1, "no", "none", 0.1, 0.9),
    ]
    naive = _scores()[_scores()["probe"] == "naive"]
    scores = pd.concat([naive, pd.DataFrame(refs, columns=naive.columns)], ignore_index=True)
    table = method_table({"s": scores}, {"s": _store()}, ["contextual", "none"], [], 1.0, 0.4, 1.0, 50, 0)
    contextual = table[table["method"] == "contextual"].iloc[0]
    assert contextual["f1_vs_yes_shift_low"] == contextual["f1_vs_yes_shift_high"] == 0
    findings = {line.split(":")[0]: line for line in method_findings(table)}
    assert "answers exactly as its yes-shift null" in findings["contextual"]
    assert "one p_ref for every question" in findings["contextual"]
    assert "answers exactly" not in findings["none"]


def test_a_generation_row_with_greedys_answers_is_named_as_greedy():
    """OPERA and plain beam search answered POPE exactly as greedy first-token decoding in the embedded run: the
    findings say that, not the calibration explanation."""
    generated = pd.DataFrame(
        {"setting": "default", "method": "opera", "question_id": [0, 1], "prediction": ["yes", "no"]}
    )
    table = method_table({"s": _scores()}, {"s": _store()}, [], [], 1.0, 0.4, 1.0, 50, 0, {"s": generated})
    row = table[table["method"] == "opera [default]"].iloc[0]
    assert row["f1_vs_greedy_low"] == row["f1_vs_greedy_high"] == 0
    (line,) = [line for line in method_findings(table) if line.startswith("opera [default]")]
    assert "its answers are greedy's" in line and "p_ref" not in line
