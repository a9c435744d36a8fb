"""Debiasing methods: post-hoc calibration (classification)."""

from lvlm_debias.methods.calibration import calibrate, normalise, reference, reference_both

__all__ = ["calibrate", "normalise", "reference", "reference_both"]
