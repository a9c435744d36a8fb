"""Post-hoc calibration against hand-computed examples."""

import numpy as np
import pytest

from lvlm_debias.decoding import calibrate, normalise, reference, reference_both


def test_calibrate_divides_by_reference_and_renormalises():
    # 0.6/0.75 = 0.8 and 0.4/0.25 = 1.6, so q = [0.8, 1.6] / 2.4
    np.testing.assert_allclose(calibrate([0.6, 0.4], [0.75, 0.25]), [1 / 3, 2 / 3])


def test_a_model_that_ignores_the_image_becomes_uniform():
    np.testing.assert_allclose(calibrate([0.8, 0.2], [0.8, 0.2]), [0.5, 0.5])


def test_calibrate_works_on_batches_and_broadcasts_one_reference():
    p = np.array([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8]])
    q = calibrate(p, np.array([0.5, 0.5]))
    np.testing.assert_allclose(q, p)
    q = calibrate(p, np.array([[0.9, 0.1], [0.25, 0.75], [0.5, 0.5]]))
    np.testing.assert_allclose(q, [[0.5, 0.5], [0.75, 0.25], [0.2, 0.8]])


def test_calibrate_with_three_labels():
    # [0.5/0.5, 0.3/0.25, 0.2/0.25] = [1, 1.2, 0.8] -> / 3
    np.testing.assert_allclose(calibrate([0.5, 0.3, 0.2], [0.5, 0.25, 0.25]), [1 / 3, 0.4, 0.8 / 3])


def test_calibrate_rejects_a_zero_reference():
    with pytest.raises(ValueError, match="p_ref must be positive"):
        calibrate([0.5, 0.5], [1.0, 0.0])


def test_normalise_is_a_plain_division_and_empty_rows_become_uniform():
    np.testing.assert_allclose(normalise([[2.0, 6.0], [0.0, 0.0]]), [[0.25, 0.75], [0.5, 0.5]])


def test_reference_adds_the_codes_epsilon_after_normalising():
    np.testing.assert_allclose(reference([0.3, 0.1]), [0.75 + 1e-4, 0.25 + 1e-4])


def test_both_sums_raw_none_and_unk_before_normalising():
    # raw None [0.3, 0.1] + raw Unk [0.1, 0.1] = [0.4, 0.2] -> [2/3, 1/3]; not the mean of normalised references
    np.testing.assert_allclose(reference_both([0.3, 0.1], [0.1, 0.1]), [2 / 3 + 1e-4, 1 / 3 + 1e-4])
