"""Render ``results/study/report.html``: the controlled study's findings, figure and tables, self-contained."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import yaml

from lvlm_debias.analysis.study import study_findings
from lvlm_debias.atomic import atomic_path
from lvlm_debias.report.html import data_uri, table_html
from lvlm_debias.report.render import _environment

GAIN_PERCENT = ["gain", "low", "high"]
TABLE_PERCENT = ["accuracy", "f1", "yes_ratio", "gain_accuracy", "gain_f1", "yes_ratio_change"]
BIN_PERCENT = ["accuracy", "naive_accuracy", "gain"]


def model_rows(model_dirs: Mapping[str, str | Path]) -> pd.DataFrame:
    """One row per study model (keys ``"<yes_rate>/<seed>"``) from its model card: the prior measured under the
    None input, the held-out accuracy and the training time (wall and CPU seconds)."""
    rows = []
    for key, folder in model_dirs.items():
        yes_rate, seed = key.split("/")
        card = json.loads((Path(folder) / "model_card.json").read_text())
        measured = card.get("measured_prior", {})
        rows.append(
            {
                "yes_rate": float(yes_rate), "seed": int(seed), "p_yes_none": measured.get("p_yes_none"),
                "p_yes_unk": measured.get("p_yes_unk"), "heldout_accuracy": card.get("heldout_naive_accuracy"),
                "training_seconds": card.get("training_seconds"),
                "training_cpu_seconds": card.get("training_cpu_seconds"),
            }
        )  # fmt: skip
    return pd.DataFrame(rows).sort_values(["yes_rate", "seed"], ignore_index=True)


def render_study_report(
    out: Path,
    study: Mapping,
    table: pd.DataFrame,
    gain: pd.DataFrame,
    confidence: pd.DataFrame,
    figure: Path,
    models: pd.DataFrame | None = None,
    csvs: Mapping[str, str] | None = None,
) -> list[str]:
    """Write the study report to ``out`` atomically: what was run (``study``, the config's study section), the
    section "When does debiasing help?" (``analysis.study.study_findings`` of the tables), the figure (embedded), the
    gain table with intervals, the per-seed table, the table by naive confidence and, with ``models``, the model
    cards' summary. ``csvs`` maps a table's name (gain, study, confidence) to its CSV, linked relative to ``out``.
    Returns the findings."""
    levels = list(study["levels"])
    findings = study_findings(table, gain, confidence, levels)
    links = {k: Path(v).name if Path(v).parent == Path(out).parent else str(v) for k, v in (csvs or {}).items()}
    shown_gain = gain.assign(metric=gain["metric"].map({"accuracy": "accuracy", "f1": "F1"}))
    html = (
        _environment()
        .get_template("study.html.j2")
        .render(
            study=study,
            levels=[{"name": k, **v} for k, v in study["levels"].items()],
            findings=findings,
            figure=data_uri(figure),
            gain=table_html(shown_gain, GAIN_PERCENT),
            table=table_html(table, TABLE_PERCENT),
            table_rows=len(table),
            confidence=table_html(confidence, BIN_PERCENT),
            confidence_rows=len(confidence),
            models=None if models is None else table_html(models, ["p_yes_none", "p_yes_unk", "heldout_accuracy"]),
            questions=_questions(gain),
            links=links,
            config=yaml.safe_dump({"study": dict(study)}, sort_keys=False),
        )
    )
    with atomic_path(out, suffix=".html") as tmp:
        tmp.write_text(html)
    return findings


def _questions(gain: pd.DataFrame) -> Sequence[dict]:
    """Questions per evidence level (the same for every model)."""
    return [{"level": k, "n": int(v)} for k, v in gain.groupby("level", sort=False)["n"].first().items()]
