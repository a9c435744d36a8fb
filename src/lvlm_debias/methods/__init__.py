"""Debiasing methods: post-hoc calibration (classification), VCD's diffusion noise, decoding configurations."""

from lvlm_debias.methods.calibration import calibrate, normalise, reference, reference_both
from lvlm_debias.methods.noise import diffusion_noise
from lvlm_debias.methods.sampling import DecodingConfig, sampling_distribution

__all__ = [
    "DecodingConfig",
    "calibrate",
    "diffusion_noise",
    "normalise",
    "reference",
    "reference_both",
    "sampling_distribution",
]
