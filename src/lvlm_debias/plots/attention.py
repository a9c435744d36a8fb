"""Figures: attention to system, image and question tokens per layer and probe, and the image share during generation
(the paper's Fig. 2)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from lvlm_debias.plots.figures import plt
from lvlm_debias.scoring.groups import GROUPS

#: one colour per token group, the same in both figures.
COLOURS = {"system": "C7", "image": "C0", "question": "C1", "generated": "C2"}


def attention_figure(table: pd.DataFrame) -> plt.Figure:
    """One panel per probe: per layer, the answer position's attention stacked by token group (%), with the groups'
    mean token counts in the legend."""
    probes = list(dict.fromkeys(table["probe"]))
    fig, axes = plt.subplots(1, len(probes), figsize=(3.2 * len(probes) + 0.6, 3.8), sharey=True, squeeze=False)
    for ax, probe in zip(axes[0], probes, strict=True):
        rows = table[table["probe"] == probe]
        shares = rows.pivot(index="layer", columns="group", values="share").sort_index()
        tokens = rows.groupby("group")["tokens"].first()
        bottom = np.zeros(len(shares))
        for group in [g for g in GROUPS if g in shares.columns]:
            values = 100 * shares[group].to_numpy()
            ax.bar(
                shares.index, values, 0.85, bottom=bottom, color=COLOURS[group], label=f"{group} ({tokens[group]:.0f})"
            )
            bottom += values
        ax.set_title(probe)
        ax.set_xlabel("layer")
        ax.set_ylim(0, 100)
        if len(shares) <= 12:
            ax.set_xticks(shares.index)
        ax.legend(
            fontsize="x-small",
            title="group (mean tokens)",
            title_fontsize="x-small",
            loc="upper center",
            bbox_to_anchor=(0.5, -0.22),
            ncols=3,
        )
    axes[0][0].set_ylabel("share of the answer position's attention (%)")
    fig.tight_layout()
    return fig


def attention_generation_figure(table: pd.DataFrame) -> plt.Figure:
    """Share of each new position's attention per token group (%) against the generation step (0: the answer
    position), averaged over layers, heads and samples; the number of samples still generating in grey."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for group in GROUPS:
        rows = table[table["group"] == group].sort_values("step")
        if rows.empty:
            continue
        bold = group == "image"
        ax.plot(
            rows["step"],
            100 * rows["share"],
            marker="o" if bold else None,
            ms=3,
            lw=2.2 if bold else 1.2,
            color=COLOURS[group],
            label=group,
        )
    ax.set_xlabel("generation step (0: last prompt position; k: k-th generated token)")
    ax.set_ylabel("share of attention (%)")
    ax.set_ylim(0, 100)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=4)
    counts = table.groupby("step")["n_samples"].first()
    twin = ax.twinx()
    twin.step(counts.index, counts.to_numpy(), where="mid", color="grey", lw=0.8, ls="--")
    twin.set_ylabel("samples still generating", color="grey")
    twin.set_ylim(0, max(1, counts.max()) * 1.05)
    twin.tick_params(axis="y", colors="grey")
    ax.set_title('"Describe the image." (greedy)')
    fig.tight_layout()
    return fig
