"""Figure: a benchmark's metrics per split for naive decoding and each calibration reference."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lvlm_debias.plots.figures import plt

#: metric column -> (panel title, scale to the plotted unit, axis maximum)
METRICS = {
    "accuracy": ("Accuracy (%)", 100, 100),
    "f1": ("F1 (%)", 100, 100),
    "yes_ratio": ("Yes-ratio (%)", 100, 100),
    "score": ("MME score", 1, None),
}


def calibration_figure(table: pd.DataFrame, headline: str = "f1", title: str = "") -> plt.Figure:
    """Grouped bars from the calibration table: one panel per metric present (accuracy, the headline, yes-ratio),
    splits on x, one bar per method."""
    shown = [m for m in dict.fromkeys(("accuracy", headline, "yes_ratio")) if m in table.columns]
    splits = list(dict.fromkeys(table["split"]))
    methods = list(dict.fromkeys(table["method"]))
    width = 0.8 / len(methods)
    fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.4), sharey=False, squeeze=False)
    for ax, metric in zip(axes[0], shown, strict=True):
        label, scale, top = METRICS[metric]
        for i, method in enumerate(methods):
            rows = table[table["method"] == method].set_index("split").reindex(splits)
            x = np.arange(len(splits)) + (i - (len(methods) - 1) / 2) * width
            ax.bar(x, scale * rows[metric].to_numpy(), width, label=method)
        if metric == "yes_ratio":
            ax.axhline(50, color="grey", lw=0.8, ls="--")
        ax.set_xticks(np.arange(len(splits)), splits)
        ax.set_ylabel(label)
        if top:
            ax.set_ylim(0, top)
        ax.set_title(label)
    axes = axes[0]
    axes[0].legend(title="method", fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
