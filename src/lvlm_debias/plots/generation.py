"""Figures of the generation experiments: CHAIR per decoding method, and classification answered by generation."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lvlm_debias.benchmarks import benchmark
from lvlm_debias.plots.figures import plt

CHAIR_PANELS = (("chair_s", "CHAIR_s (%)"), ("chair_i", "CHAIR_i (%)"), ("recall", "object recall (%)"))


def _bars(ax: plt.Axes, table: pd.DataFrame, column: str, scale: float) -> None:
    """Grouped bars: one group per method, one bar per setting (labelled with its configuration)."""
    methods = list(dict.fromkeys(table["method"]))
    settings = list(dict.fromkeys(table["setting"]))
    width = 0.8 / len(settings)
    x = np.arange(len(methods))
    for i, setting in enumerate(settings):
        rows = table[table["setting"] == setting].set_index("method").reindex(methods)
        label = f"{setting} ({rows['config'].dropna().iloc[0]})" if rows["config"].notna().any() else setting
        ax.bar(x + (i - (len(settings) - 1) / 2) * width, scale * rows[column], width, label=label, color=f"C{i}")
    ax.set_xticks(x, methods, rotation=30, ha="right")


def chair_figure(table: pd.DataFrame, title: str = "") -> plt.Figure:
    """CHAIR_s, CHAIR_i and object recall per decoding method, bars per decoding setting (a ``chair_table``)."""
    fig, axes = plt.subplots(1, len(CHAIR_PANELS), figsize=(4.2 * len(CHAIR_PANELS), 3.4))
    for ax, (column, label) in zip(axes, CHAIR_PANELS, strict=True):
        _bars(ax, table, column, 100)
        ax.set_ylabel(label)
    axes[0].legend(fontsize="small")
    fig.suptitle(f"{title}: captions (lower CHAIR is better)" if title else "captions (lower CHAIR is better)")
    fig.tight_layout()
    return fig


def contrastive_figure(table: pd.DataFrame, title: str = "") -> plt.Figure:
    """Per benchmark (splits averaged), its headline metric per decoding method, bars per decoding setting (a
    ``contrastive_table``)."""
    names = list(dict.fromkeys(table["benchmark"]))
    fig, axes = plt.subplots(1, len(names), figsize=(4.4 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        metric = benchmark(name).headline
        rows = table[table["benchmark"] == name]
        mean = rows.groupby(["setting", "config", "method"], sort=False)[metric].mean().reset_index()
        _bars(ax, mean, metric, 1 if metric == "score" else 100)
        ax.set_ylabel(f"{metric} ({'points' if metric == 'score' else '%'})")
        ax.set_title(name)
    axes[0][0].legend(fontsize="small")
    if title:
        fig.suptitle(f"{title}: answered by generation")
    fig.tight_layout()
    return fig
