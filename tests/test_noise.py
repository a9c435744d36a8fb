"""VCD's diffusion noise against the formula worked by hand."""

import math
import subprocess
import sys

import pytest
import torch

from lvlm_debias.inputs.noise import alpha_bar, diffusion_noise, stable_seed


def _sigmoid(x):
    return 1 / (1 + math.exp(-x))


def test_alpha_bar_by_hand():
    # beta_0 = sigmoid(-6) * (5e-3 - 1e-5) + 1e-5; beta_1 uses linspace(-6, 6, 1000)[1] = -6 + 12/999
    beta0 = _sigmoid(-6) * (5e-3 - 1e-5) + 1e-5
    beta1 = _sigmoid(-6 + 12 / 999) * (5e-3 - 1e-5) + 1e-5
    assert alpha_bar(0) == pytest.approx(1 - beta0, rel=1e-12)
    assert alpha_bar(1) == pytest.approx((1 - beta0) * (1 - beta1), rel=1e-12)
    # the schedule is monotone; step 999 keeps a little of the image, step 500 much more
    assert 0 < alpha_bar(999) < alpha_bar(500) < 1
    with pytest.raises(ValueError, match="diffusion step"):
        alpha_bar(1000)


def test_noise_follows_the_formula_with_its_seed():
    x = torch.full((3, 4, 4), 0.5)
    a = alpha_bar(999)
    eps = torch.randn(x.shape, generator=torch.Generator().manual_seed(11))
    torch.testing.assert_close(diffusion_noise(x, 999, 11), a**0.5 * x + (1 - a) ** 0.5 * eps)
    assert not torch.equal(diffusion_noise(x, 999, 11), diffusion_noise(x, 999, 12))


def test_stable_seed_is_the_same_in_another_process():
    here = stable_seed(0, "noise", "images/e1.png")
    code = "from lvlm_debias.inputs.noise import stable_seed; print(stable_seed(0, 'noise', 'images/e1.png'))"
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert int(there) == here and 0 <= here < 2**63
