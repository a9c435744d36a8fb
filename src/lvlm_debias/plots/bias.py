"""Figure: naive vs text-only accuracy per benchmark subset (the benchmark-bias analysis)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lvlm_debias.plots.figures import plt


def benchmark_bias_figure(table: pd.DataFrame, title: str = "") -> plt.Figure:
    """Paired bars per subset: naive accuracy and the best text-only accuracy; flagged subsets are starred."""
    labels = [
        f"{b}: {s}" + (" *" if flag else "")
        for b, s, flag in table[["benchmark", "subset", "text_answerable"]].itertuples(index=False)
    ]
    x = np.arange(len(table))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.7 * len(table) + 2), 3.8))
    ax.bar(x - 0.2, 100 * table["naive_accuracy"], 0.4, label="naive (image)")
    ax.bar(x + 0.2, 100 * table["best_text_only"], 0.4, label="best text-only (none, unk)")
    ax.set_xticks(x, labels, rotation=45, ha="right")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize="small")
    ax.set_title(
        title + " (* text alone matches or beats the image)" if title else "* text alone matches or beats the image"
    )
    fig.tight_layout()
    return fig
