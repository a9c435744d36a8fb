"""Figure: POPE metrics per split for naive decoding and each calibration reference."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lvlm_debias.plots.figures import plt

METRICS = (("accuracy", "Accuracy"), ("f1", "F1"), ("yes_ratio", "Yes-ratio"))


def pope_calibration_figure(table: pd.DataFrame, title: str = "") -> plt.Figure:
    """Grouped bars from the calibration table: one panel per metric, splits on x, one bar per method."""
    splits = list(dict.fromkeys(table["split"]))
    methods = list(dict.fromkeys(table["method"]))
    width = 0.8 / len(methods)
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4.2 * len(METRICS), 3.4), sharey=False)
    for ax, (metric, label) in zip(axes, METRICS, strict=True):
        for i, method in enumerate(methods):
            rows = table[table["method"] == method].set_index("split").reindex(splits)
            x = np.arange(len(splits)) + (i - (len(methods) - 1) / 2) * width
            ax.bar(x, 100 * rows[metric].to_numpy(), width, label=method)
        if metric == "yes_ratio":
            ax.axhline(50, color="grey", lw=0.8, ls="--")
        ax.set_xticks(np.arange(len(splits)), splits)
        ax.set_ylabel(f"{label} (%)")
        ax.set_ylim(0, 100)
        ax.set_title(label)
    axes[0].legend(title="method", fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
