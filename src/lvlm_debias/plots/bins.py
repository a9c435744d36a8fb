"""Figure: accuracy gain of each debiasing method over naive, by naive confidence bin (with counts)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lvlm_debias.plots.figures import plt


def confidence_bins_figure(table: pd.DataFrame, title: str = "") -> plt.Figure:
    """Bars of ``gain`` per bin and method (hatched where the bin has too few questions), counts under the axis."""
    bins = list(dict.fromkeys(table["bin"]))
    methods = [m for m in dict.fromkeys(table["method"]) if m != "naive"]
    width = 0.8 / max(1, len(methods))
    fig, ax = plt.subplots(figsize=(1.3 * len(bins) + 3, 3.6))
    for i, method in enumerate(methods):
        rows = table[table["method"] == method].set_index("bin").reindex(bins)
        x = np.arange(len(bins)) + (i - (len(methods) - 1) / 2) * width
        gain = 100 * rows["gain"].fillna(0).to_numpy()
        bars = ax.bar(x, gain, width, label=method)
        for bar, enough in zip(bars, rows["enough"].to_numpy(), strict=True):
            if not enough:
                bar.set_hatch("//")
                bar.set_alpha(0.4)
    counts = table[table["method"] == "naive"].set_index("bin").reindex(bins)["n"].fillna(0).astype(int)
    ax.set_xticks(np.arange(len(bins)), [f"{b}\nn={n}" for b, n in zip(bins, counts, strict=True)])
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("naive confidence (hatched: too few questions)")
    ax.set_ylabel("accuracy gain over naive (points)")
    ax.legend(fontsize="small", ncols=2)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
