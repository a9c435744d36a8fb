"""Figure: a benchmark's headline metric against temperature, one line per top-p (top-k off), greedy dashed."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from lvlm_debias.benchmarks import benchmark
from lvlm_debias.plots.figures import plt


def decoding_figure(sweeps: Mapping[str, pd.DataFrame], title: str = "") -> plt.Figure:
    """One panel per benchmark (splits averaged): expected headline metric vs temperature per top-p at the smallest
    top-k of the grid (0 = off), the seeded sampled estimate as dots, and greedy decoding as a dashed line."""
    names = list(dict.fromkeys(key.split("/")[0] for key in sweeps))
    fig, axes = plt.subplots(1, len(names), figsize=(4.4 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        metric = benchmark(name).headline
        table = pd.concat([t for key, t in sweeps.items() if key.split("/")[0] == name])
        cols = [f"expected_{metric}", f"sampled_{metric}"]
        mean = table.groupby(["do_sample", "temperature", "top_p", "top_k"], sort=True)[cols].mean().reset_index()
        sampling = mean[mean["do_sample"]]
        sampling = sampling[sampling["top_k"] == sampling["top_k"].min()]
        scale = 1 if metric == "score" else 100
        for i, (top_p, rows) in enumerate(sampling.groupby("top_p")):
            ax.plot(rows["temperature"], scale * rows[cols[0]], marker="o", color=f"C{i}", label=f"top-p {top_p:g}")
            ax.plot(rows["temperature"], scale * rows[cols[1]], ls="none", marker="x", color=f"C{i}")
        greedy = mean[~mean["do_sample"]]
        if len(greedy):
            ax.axhline(scale * greedy[cols[0]].iloc[0], color="grey", ls="--", label="greedy")
        ax.set_xlabel("temperature")
        ax.set_ylabel(f"{metric} ({'points' if metric == 'score' else '%'})")
        ax.set_title(f"{name} (x: sampled)")
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
