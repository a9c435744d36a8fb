"""Prior probing (the paper's Fig. 1): the summary and findings of the table ``scoring.prior`` writes (what a model
answers about an object that is not in the image, under every probe input). Concrete answers without visual
information are the language prior."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def top_answers_summary(table: pd.DataFrame, shown: int = 3) -> pd.DataFrame:
    """One row per question, one column per probe: its ``shown`` most likely answers with their probability (%)."""
    rows = table[table["rank"] <= shown].sort_values(["rank"], kind="stable")
    cells = rows.groupby(["question", "probe"], sort=False).apply(
        lambda g: ", ".join(f"{a} {100 * p:.0f}%" for a, p in zip(g["answer"], g["probability"], strict=True)),
        include_groups=False,
    )
    wide = cells.unstack("probe")
    wide = wide.reindex(index=list(dict.fromkeys(table["question"])), columns=list(dict.fromkeys(table["probe"])))
    wide.columns.name = None
    return wide.reset_index()


def prior_findings(table: pd.DataFrame, probes: Sequence[str] = ("none", "unk")) -> list[str]:
    """One sentence per question: the top answer without any visual information, and with the real image."""
    out = []
    for question, rows in table.groupby("question", sort=False):
        top = rows[rows["rank"] == 1].set_index("probe")
        parts = [
            f"{probe}: '{top.loc[probe, 'answer']}' ({100 * top.loc[probe, 'probability']:.0f} %)"
            for probe in probes
            if probe in top.index
        ]
        naive = (
            f"; with the image (naive): '{top.loc['naive', 'answer']}' ({100 * top.loc['naive', 'probability']:.0f} %)"
            if "naive" in top.index
            else ""
        )
        out.append(f"'{question}' without visual information, {', '.join(parts)}{naive}.")
    return out
