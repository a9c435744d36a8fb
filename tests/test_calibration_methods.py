"""The calibration-method registry (``calibration.CALIBRATION_METHODS``): hand-worked p_ref for each kind, the schema's
enums equal to the registry, and a toy method registered in a few lines and run through ``debiased``."""

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT

from lvlm_debias.analysis.calibration import debiased, probes_for
from lvlm_debias.calibration import CALIBRATION_METHODS, CalibrationMethod, calibration_method, registered

SCHEMA = yaml.safe_load((ROOT / "config/schema.yaml").read_text())["properties"]


def test_the_schemas_calibration_enums_are_the_registry():
    references = SCHEMA["calibration"]["properties"]["references"]["items"]["enum"]
    assert references == [name for name in CALIBRATION_METHODS if name != "naive"]
    assert set(SCHEMA["study"]["properties"]["methods"]["items"]["enum"]) <= set(CALIBRATION_METHODS)


def test_single_both_and_batch_references_by_hand():
    p = np.array([[0.6, 0.2], [0.1, 0.3]])  # raw naive: normalised [0.75, 0.25], [0.25, 0.75]
    none = np.array([[0.3, 0.1], [0.3, 0.1]])  # normalised [0.75, 0.25] (+1e-4)
    unk = np.array([[0.1, 0.3], [0.1, 0.3]])
    eps = 1e-4
    q_none = calibration_method("none").q(p, [none])
    # q ∝ [0.75 / (0.75+eps), 0.25 / (0.25+eps)] for the first question: ~uniform
    np.testing.assert_allclose(q_none[0], [0.5, 0.5], atol=1e-4)
    # Both: raw sum [0.4, 0.4] -> [0.5, 0.5] + eps: the naive distribution back
    np.testing.assert_allclose(calibration_method("both").q(p, [none, unk]), [[0.75, 0.25], [0.25, 0.75]], atol=1e-6)
    # batch: p_ref = mean of the normalised rows = [0.5, 0.5] (+eps): q = normalise(p)
    np.testing.assert_allclose(calibration_method("batch").q(p), [[0.75, 0.25], [0.25, 0.75]], atol=1e-6)
    # batch under weights (2 resamples): [2, 0] -> p_ref [0.75, 0.25] + eps; [1, 3] -> [0.375, 0.625] + eps
    w = np.array([[2.0, 0.0], [1.0, 3.0]])
    q = calibration_method("batch").q(p, weights=w)
    assert q.shape == (2, 2, 2)
    ref = np.array([0.375, 0.625]) + eps
    expected = np.array([[0.75, 0.25], [0.25, 0.75]]) / ref
    np.testing.assert_allclose(q[1], expected / expected.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(q[0, 0], [0.5, 0.5], atol=1e-4)
    assert calibration_method("naive").q(p) == pytest.approx(np.array([[0.75, 0.25], [0.25, 0.75]]))


def test_a_method_gets_as_many_references_as_it_reads_and_unknown_names_are_named():
    with pytest.raises(ValueError, match=r"reads probes \('none', 'unk'\), got 1"):
        calibration_method("both").q(np.ones((1, 2)), [np.ones((1, 2))])
    with pytest.raises(ValueError, match="unknown calibration method 'nope'; known methods: \\['naive'"):
        calibration_method("nope")


def test_a_toy_calibration_method_plugs_into_debiased_and_probes_for():
    # "flip": p_ref is the Unk distribution reversed; Unk says [0.2, 0.8] -> p_ref [0.8, 0.2] (+eps)
    flip = CalibrationMethod("flip", ("unk",), lambda p, refs, w: refs[0][:, ::-1] / refs[0].sum(1, keepdims=True))
    scores = pd.DataFrame(
        [(0, "yes", "naive", 0.6, 0.4), (0, "yes", "unk", 0.2, 0.8)],
        columns=["question_id", "label", "probe", "p_yes", "p_no"],
    )
    with registered(flip):
        assert probes_for(["flip"]) == ["naive", "unk"]
        q = debiased(scores, "flip")
        # 0.6 / 0.8 = 0.75 vs 0.4 / 0.2 = 2 -> q = [0.75, 2] / 2.75
        np.testing.assert_allclose(q.loc[0].to_numpy(), [0.75 / 2.75, 2 / 2.75])
        with pytest.raises(ValueError, match="already registered"):
            with registered(flip):
                pass
    assert "flip" not in CALIBRATION_METHODS


def test_contextual_calibration_divides_by_the_content_free_answer_distribution():
    """Zhao et al. 2021's contextual calibration: one p_ref for every question, the normalised answer distribution
    under "N/A" (the na probe), plus eps; q ∝ p / p_ref."""
    p = np.array([[0.6, 0.2], [0.1, 0.3]])  # normalised [0.75, 0.25], [0.25, 0.75]
    na = np.array([[0.09, 0.01], [0.09, 0.01]])  # normalised [0.9, 0.1]
    method = calibration_method("contextual")
    assert method.probes == ("na",) and probes_for(["contextual"]) == ["naive", "na"]
    ref = np.array([0.9, 0.1]) + 1e-4
    expected = np.array([[0.75, 0.25], [0.25, 0.75]]) / ref
    np.testing.assert_allclose(method.q(p, [na]), expected / expected.sum(axis=1, keepdims=True))
    assert method.q(p, [na])[0, 1] > 0.7  # a "yes"-leaning content-free answer turns a 0.75 "yes" into a "no"
