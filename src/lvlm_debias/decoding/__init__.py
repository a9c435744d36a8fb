"""Debiasing methods: post-hoc calibration (classification), VDD / VCD contrastive decoding (generation), VCD's
diffusion noise, decoding configurations."""

from lvlm_debias.calibration import calibrate, normalise, reference, reference_batch, reference_both
from lvlm_debias.decoding.sampling import DecodingConfig, sampling_distribution
from lvlm_debias.decoding.vdd import ContrastLogitsProcessor, contrast, contrastive_generate_kwargs
from lvlm_debias.inputs.noise import diffusion_noise

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
