"""First-token VDD over alpha x beta from the logit cache, against hand-worked examples."""

import numpy as np
import pandas as pd
import pytest
from test_official_reading import _store

from lvlm_debias.analysis.contrast_grid import contrast_grid_table, contrast_label_dist, grid_findings


def test_the_contrasted_first_token_distribution_by_hand():
    store = _store()  # naive logits [2, 1, 0.5, -3] labelled yes, no, yes ("Yes"), none; None [1, 1.5, 0, 0]
    # VDD-None, alpha 1, beta 0.2: cut at log 0.2 + 2 drops the 4th; c = 2 l - l_None = [3, 0.5, 1];
    # softmax e^3, e^0.5, e^1 over 24.4525 = 0.82141, 0.06743, 0.11117: yes sums both spellings, 0.93258
    expected, greedy, exact = contrast_label_dist(store, "vdd-none", 1.0, 0.2, 1.0, 2)
    np.testing.assert_allclose(expected, [[0.93258, 0.06743, 0.0]], atol=1e-5)
    np.testing.assert_array_equal(greedy, [[1.0, 0.0, 0.0]])
    assert exact.tolist() == [True]
    # alpha 0 is the cut alone: softmax e^2, e^1, e^0.5 over 11.7555: yes 0.62853 + 0.14024, no 0.23122
    expected, _, _ = contrast_label_dist(store, "vdd-none", 0.0, 0.2, 1.0, 2)
    np.testing.assert_allclose(expected, [[0.76877, 0.23122, 0.0]], atol=1e-5)
    with pytest.raises(ValueError, match="unknown contrast method 'vcd'"):
        contrast_label_dist(store, "vcd", 1.0, 0.2, 1.0, 2)


def test_the_grid_table_holds_every_setting_with_expected_and_greedy_metrics():
    store = _store()
    answers = pd.DataFrame({"label": ["no"], "subset": ["random"], "image": ["a.png"]}, index=pd.Index([7]))
    table = contrast_grid_table(
        {"random": store}, {"random": answers}, "pope", ["vdd-none", "vdd-both"], [0, 1], [0.2, 0.5], 1.0
    )
    assert len(table) == 2 * 2 * 2 * 2 and set(table["decoding"]) == {"expected", "greedy"}
    row = table.query("method == 'vdd-none' and alpha == 1 and beta == 0.2 and decoding == 'expected'").iloc[0]
    assert row["accuracy"] == pytest.approx(0.06743, abs=1e-5)  # the gold label is "no"
    assert row["yes_ratio"] == pytest.approx(0.93258, abs=1e-5)
    greedy = table.query("method == 'vdd-none' and alpha == 1 and beta == 0.2 and decoding == 'greedy'").iloc[0]
    assert greedy["accuracy"] == 0.0 and greedy["temperature"] == 0.0
    findings = grid_findings(table, "accuracy")
    assert findings[0].startswith("vdd-none: accuracy from") and "selected on these questions" in findings[0]
