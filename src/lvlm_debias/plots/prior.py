"""Figure: prior probing, the top answers per probe for each question (the paper's Fig. 1)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lvlm_debias.plots.figures import plt


def prior_probing_figure(table: pd.DataFrame, shown: int = 6) -> plt.Figure:
    """One row of panels per question, one panel per probe: horizontal bars of its ``shown`` most likely answers."""
    questions = list(dict.fromkeys(table["question"]))
    probes = list(dict.fromkeys(table["probe"]))
    fig, axes = plt.subplots(
        len(questions), len(probes), figsize=(2.3 * len(probes), 2.2 * len(questions) + 0.4), squeeze=False
    )
    for r, question in enumerate(questions):
        for c, probe in enumerate(probes):
            ax = axes[r][c]
            rows = table[(table["question"] == question) & (table["probe"] == probe)].nsmallest(shown, "rank")
            y = np.arange(len(rows))[::-1]
            ax.barh(y, 100 * rows["probability"].to_numpy(), color=f"C{c}")
            ax.set_yticks(y, rows["answer"].tolist(), fontsize="small")
            ax.set_xlim(0, 100)
            ax.tick_params(axis="x", labelsize="x-small")
            if r == 0:
                ax.set_title(probe)
            if c == 0:
                ax.set_ylabel(question, fontsize="small")
    fig.supxlabel("probability of the first answer token (%)", fontsize="small")
    fig.tight_layout()
    return fig
