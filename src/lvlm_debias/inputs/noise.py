"""VCD's forward diffusion noise, applied to a processed pixel tensor (the Noise probe and the VCD reference)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where used: stable_seed is read by jobs that load no model
    import torch

#: number of diffusion steps in VCD's schedule.
DIFFUSION_STEPS = 1000
#: the step used by the Noise probe (nearly pure Gaussian) and by VCD's reference image.
NOISE_PROBE_STEP, VCD_STEP = 999, 500


def alpha_bar(step: int, steps: int = DIFFUSION_STEPS) -> float:
    """``alpha_bar_t = prod_{s<=t} (1 - beta_s)``, ``beta = sigmoid(linspace(-6, 6, steps)) * (5e-3 - 1e-5) + 1e-5``."""
    import torch

    if not 0 <= step < steps:
        raise ValueError(f"diffusion step must lie in [0, {steps - 1}], got {step!r}")
    betas = torch.sigmoid(torch.linspace(-6, 6, steps, dtype=torch.float64)) * (5e-3 - 1e-5) + 1e-5
    return float(torch.cumprod(1 - betas, dim=0)[step])


def stable_seed(*parts: object) -> int:
    """A 63-bit seed from ``parts`` that is the same in every process (Python's ``hash`` is salted per process)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def diffusion_noise(pixels: torch.Tensor, step: int, seed: int) -> torch.Tensor:
    """``sqrt(alpha_bar_t) * x + sqrt(1 - alpha_bar_t) * eps`` with ``eps ~ N(0, I)`` drawn from ``seed``.

    ``pixels`` is one processed image tensor (C, H, W) or a batch; the noise depends only on ``seed`` and the shape.
    """
    import torch

    a = alpha_bar(step)
    generator = torch.Generator().manual_seed(seed)
    eps = torch.randn(pixels.shape, generator=generator, dtype=torch.float32)
    return (a**0.5 * pixels.float() + (1 - a) ** 0.5 * eps).to(pixels.dtype)
