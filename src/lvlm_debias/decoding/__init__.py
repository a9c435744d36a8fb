"""Decoding: the decoding methods (``methods.DECODING_METHODS``: naive, VCD, VDD; the seam ``base.DecodingMethod``),
VDD / VCD contrastive decoding (``vdd``), decoding configurations and first-position sampling maths (``sampling``),
and generation in batches (``decode``)."""

from lvlm_debias.calibration import calibrate, normalise, reference, reference_batch, reference_both
from lvlm_debias.decoding.base import DecodingMethod, DecodingParameters, GenerationBatch
from lvlm_debias.decoding.methods import DECODING_METHODS, decoding_method
from lvlm_debias.decoding.sampling import DecodingConfig, sampling_distribution
from lvlm_debias.decoding.vdd import ContrastiveDecoding, ContrastLogitsProcessor, contrast
from lvlm_debias.inputs.noise import diffusion_noise

__all__ = [
    "DECODING_METHODS",
    "ContrastLogitsProcessor",
    "ContrastiveDecoding",
    "DecodingConfig",
    "DecodingMethod",
    "DecodingParameters",
    "GenerationBatch",
    "contrast",
    "calibrate",
    "decoding_method",
    "diffusion_noise",
    "normalise",
    "reference",
    "reference_batch",
    "reference_both",
    "sampling_distribution",
]
