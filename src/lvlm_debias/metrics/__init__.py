"""Benchmark metrics."""

from lvlm_debias.metrics.mme import mme_scores, mme_totals
from lvlm_debias.metrics.mmmu import accuracy_by_subject
from lvlm_debias.metrics.parse import PARSERS, parse_choice, parse_yes_no_llava, parse_yes_no_mme, parse_yes_no_vcd
from lvlm_debias.metrics.pope import pope_metrics, pope_ratios

__all__ = [
    "PARSERS",
    "accuracy_by_subject",
    "mme_scores",
    "mme_totals",
    "parse_choice",
    "parse_yes_no_llava",
    "parse_yes_no_mme",
    "parse_yes_no_vcd",
    "pope_metrics",
    "pope_ratios",
]
