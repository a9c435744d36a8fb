"""Figure: a benchmark's headline metric over the first-token VDD grid, one heatmap per contrast method."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lvlm_debias.plots.figures import plt


def contrast_grid_figure(table: pd.DataFrame, headline: str, title: str = "") -> plt.Figure:
    """One panel per method: the expected ``headline`` metric (splits averaged) for each alpha (rows; 0 = the cut
    alone) and beta (columns), each cell labelled with its value."""
    expected = table[table["decoding"] == "expected"]
    methods = list(dict.fromkeys(expected["method"]))
    scale = 1.0 if headline == "score" else 100.0
    fig, axes = plt.subplots(1, len(methods), figsize=(3.6 * len(methods), 3.2), squeeze=False)
    for ax, method in zip(axes[0], methods, strict=True):
        grid = expected[expected["method"] == method].pivot_table(
            index="alpha", columns="beta", values=headline, aggfunc="mean"
        )
        values = scale * grid.to_numpy()
        image = ax.imshow(values, cmap="viridis", aspect="auto", origin="lower")
        ax.set_xticks(range(grid.shape[1]), [f"{b:g}" for b in grid.columns])
        ax.set_yticks(range(grid.shape[0]), [f"{a:g}" for a in grid.index])
        ax.set_xlabel("beta (plausibility cut)")
        ax.set_ylabel("alpha (contrast)")
        for (i, j), v in np.ndenumerate(values):
            ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize="x-small", color="white")
        ax.set_title(method)
        fig.colorbar(image, ax=ax, shrink=0.8, label=f"{headline} ({'points' if headline == 'score' else '%'})")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
