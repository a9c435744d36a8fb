"""Decoding: the decoding methods (``methods.DECODING_METHODS``: naive, VCD, VDD; the seam ``base.DecodingMethod``),
VDD / VCD contrastive decoding (``vdd``), decoding configurations and first-position sampling maths (``sampling``),
and generation in batches (``decode``).

The names below are imported on first use (PEP 562), so that ``import lvlm_debias.decoding.sampling`` in a job that
loads no model does not import the decoding methods, and with them torch and transformers."""

from importlib import import_module

#: each name exported here, with the module that defines it
_EXPORTS = {
    "calibrate": "lvlm_debias.calibration",
    "normalise": "lvlm_debias.calibration",
    "reference": "lvlm_debias.calibration",
    "reference_batch": "lvlm_debias.calibration",
    "reference_both": "lvlm_debias.calibration",
    "DecodingMethod": "lvlm_debias.decoding.base",
    "DecodingParameters": "lvlm_debias.decoding.base",
    "GenerationBatch": "lvlm_debias.decoding.base",
    "DECODING_METHODS": "lvlm_debias.decoding.methods",
    "decoding_method": "lvlm_debias.decoding.methods",
    "DecodingConfig": "lvlm_debias.decoding.sampling",
    "sampling_distribution": "lvlm_debias.decoding.sampling",
    "ContrastiveDecoding": "lvlm_debias.decoding.vdd",
    "ContrastLogitsProcessor": "lvlm_debias.decoding.processors",
    "contrast": "lvlm_debias.decoding.vdd",
    "diffusion_noise": "lvlm_debias.inputs.noise",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
