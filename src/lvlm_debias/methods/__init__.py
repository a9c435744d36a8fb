"""Debiasing methods: post-hoc calibration (classification), VDD / VCD contrastive decoding (generation), VCD's
diffusion noise, decoding configurations."""

from lvlm_debias.methods.calibration import calibrate, normalise, reference, reference_batch, reference_both
from lvlm_debias.methods.noise import diffusion_noise
from lvlm_debias.methods.sampling import DecodingConfig, sampling_distribution
from lvlm_debias.methods.vdd import ContrastLogitsProcessor, contrast, contrastive_generate_kwargs

__all__ = [
    "ContrastLogitsProcessor",
    "DecodingConfig",
    "contrast",
    "contrastive_generate_kwargs",
    "calibrate",
    "diffusion_noise",
    "normalise",
    "reference",
    "reference_batch",
    "reference_both",
    "sampling_distribution",
]
