"""How much the reading of label probabilities moves each headline number: our reading (``clean``) beside the
official code's (``official``, :mod:`lvlm_debias.scoring.official`) for every calibration method both have."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from lvlm_debias.analysis.calibration import answers
from lvlm_debias.benchmarks import benchmark, metrics, official_convention
from lvlm_debias.scoring.official import OFFICIAL_METHODS, OfficialSettings, official_answers
from lvlm_debias.scoring.store import LogitStore


def reading_table(
    scores_by_split: Mapping[str, pd.DataFrame],
    stores_by_split: Mapping[str, LogitStore],
    methods: Sequence[str],
    name: str,
    settings: OfficialSettings,
) -> pd.DataFrame:
    """One row per split, method and reading (``clean``, ``official``) with benchmark ``name``'s metrics, for the
    ``methods`` both readings have (naive, none, unk, both). ``exact``: the share of questions whose official
    reading is exact (every token past the plausibility cut was stored); ``no_label_mass``: questions whose official
    distribution held no label word (answered "yes", as there)."""
    labels, convention = list(benchmark(name).labels), official_convention(name)
    shown = [m for m in ["naive", *methods] if m in OFFICIAL_METHODS]
    rows = []
    for split, scores in scores_by_split.items():
        questions = scores[scores["probe"] == "naive"].set_index("question_id")
        official = official_answers(stores_by_split[split], questions, settings, labels, convention)
        for method in dict.fromkeys(shown):
            clean = answers(scores, method, labels)
            rows.append({"split": split, "method": method, "reading": "clean", "n": len(clean), **metrics(name, clean)})
            answered = official[method]
            rows.append(
                {
                    "split": split,
                    "method": method,
                    "reading": "official",
                    "n": len(answered),
                    **metrics(name, answered),
                    "exact": float(answered["exact"].mean()),
                    "no_label_mass": int(answered["no_mass"].sum()),
                }
            )
    return pd.DataFrame(rows)


def reading_deltas(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """The readings of benchmark ``name`` side by side: per split and method, each shown metric
    (``Benchmark.shown``) under ``clean`` and ``official`` and the change (official - clean), in the table's units."""
    shown = [m for m in benchmark(name).shown if m in table.columns]
    wide = table.pivot_table(index=["split", "method"], columns="reading", values=shown, sort=False)
    out = table[["split", "method"]].drop_duplicates().reset_index(drop=True)
    for metric in shown:
        clean = wide[(metric, "clean")].to_numpy()
        official = wide[(metric, "official")].to_numpy()
        out[f"{metric}_clean"] = clean
        out[f"{metric}_official"] = official
        out[f"{metric}_change"] = official - clean
    return out


def reading_findings(deltas: pd.DataFrame, name: str) -> list[str]:
    """One sentence per method: how far the official reading moves benchmark ``name``'s headline metric (mean and
    range over splits)."""
    headline = benchmark(name).headline
    scale = 1.0 if headline == "score" else 100.0
    unit = "points"
    out = []
    for method, rows in deltas.groupby("method", sort=False):
        change = scale * rows[f"{headline}_change"].to_numpy()
        splits = f"{len(change)} split{'s' if len(change) > 1 else ''}"
        out.append(
            f"{method}: the official reading moves {headline} by {np.mean(change):+.1f} {unit} on average "
            f"(from {change.min():+.1f} to {change.max():+.1f} over {splits})."
        )
    return out
