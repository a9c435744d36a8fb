"""Figure of the controlled study: the calibration gain against the injected prior strength."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from lvlm_debias.plots.figures import plt

METRIC_NAMES = {"accuracy": "accuracy", "f1": "F1"}


def gain_vs_prior_figure(gain: pd.DataFrame, levels: Sequence[str] | None = None) -> plt.Figure:
    """One panel per metric (rows) and calibration method (columns) of ``analysis.study.gain_table``: the gain over
    naive in points against the injected ``yes_rate``, one line per evidence level, error bars its bootstrap
    interval (``low``..``high``). Levels are drawn slightly apart on x so that their bars do not overlap."""
    levels = list(levels or dict.fromkeys(gain["level"]))
    metrics = [m for m in METRIC_NAMES if m in set(gain["metric"])]
    methods = list(dict.fromkeys(gain["method"]))
    rates = sorted(gain["yes_rate"].unique())
    spread = 0.15 * (min(np.diff(rates)) if len(rates) > 1 else 0.1)
    fig, axes = plt.subplots(
        len(metrics), len(methods), figsize=(3.2 * len(methods) + 0.6, 2.8 * len(metrics) + 0.4),
        sharex=True, sharey="row", squeeze=False,
    )  # fmt: skip
    for r, metric in enumerate(metrics):
        for c, method in enumerate(methods):
            ax = axes[r][c]
            for i, level in enumerate(levels):
                rows = gain[(gain["metric"] == metric) & (gain["method"] == method) & (gain["level"] == level)]
                rows = rows.sort_values("yes_rate")
                x = rows["yes_rate"].to_numpy() + (i - (len(levels) - 1) / 2) * spread
                y = 100 * rows["gain"].to_numpy()
                err = 100 * np.abs(np.stack([rows["gain"] - rows["low"], rows["high"] - rows["gain"]]))
                ax.errorbar(x, y, yerr=err, marker="o", ms=4, capsize=3, label=level)
            ax.axhline(0, color="black", lw=0.8)
            ax.set_xticks(rates, [f"{v:g}" for v in rates])
            if r == 0:
                ax.set_title("batch calibration" if method == "batch" else f"{method} reference")
            if c == 0:
                ax.set_ylabel(f"{METRIC_NAMES[metric]} gain over naive (points)")
            if r == len(metrics) - 1:
                ax.set_xlabel("injected yes_rate")
    axes[0][-1].legend(title="evidence", fontsize="small")
    fig.tight_layout()
    return fig
