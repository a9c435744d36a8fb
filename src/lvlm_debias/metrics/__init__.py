"""Benchmark metrics."""

from lvlm_debias.metrics.pope import pope_metrics

__all__ = ["pope_metrics"]
