"""Render ``results/report.html``: every table and figure of the run, self-contained (images embedded)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import jinja2
import pandas as pd

from lvlm_debias.atomic import atomic_path
from lvlm_debias.report.blocks import model_blocks
from lvlm_debias.report.html import table_html
from lvlm_debias.report.paper import Bootstrap, Claim, PublishedNumber, Regime, claim_rows
from lvlm_debias.report.provenance import config_yaml, rule_times


@dataclass
class ModelSection:
    """What the report shows for one model: its output files by key (``lvlm_debias.outputs.OUTPUTS``)."""

    name: str
    outputs: Mapping[str, Path]
    card: dict | None = None
    paper_name: str | None = None  # the model's name in config/paper_numbers.yaml, if the paper evaluated it
    samples: list[dict] = field(default_factory=list)  # per-sample browser cards (report.samples.sample_cards)


def load_sections(
    models: Sequence[str],
    outputs: Mapping[str, Mapping[str, str]],
    model_dirs: Mapping[str, str],
    paper_names: Mapping[str, str | None] | None = None,
    samples: Mapping[str, list[dict]] | None = None,
) -> list[ModelSection]:
    """One section per model from its outputs, (for local checkpoints) model card, paper name and sample cards."""
    sections = []
    for name in models:
        card_path = Path(model_dirs[name]) / "model_card.json"
        card = json.loads(card_path.read_text()) if card_path.is_file() else None
        sections.append(
            ModelSection(
                name,
                {k: Path(v) for k, v in outputs[name].items()},
                card,
                (paper_names or {}).get(name),
                list((samples or {}).get(name, [])),
            )
        )
    return sections


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("lvlm_debias.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def render_report(
    out: Path,
    config: Mapping,
    models: Sequence[ModelSection],
    facts: Mapping[str, str] | None = None,
    times: pd.DataFrame | None = None,
    claims: Sequence[Claim] = (),
    numbers: Sequence[PublishedNumber] = (),
    regime: Regime | None = None,
) -> None:
    """Write the report to ``out`` atomically; ``facts`` (provenance) and ``times`` (per job) go in its last part.
    ``claims``, ``numbers`` and ``regime`` (``report.paper.load_paper_numbers``) put the paper's findings and the
    published numbers beside this run's: the report opens with each model's claims, this run's estimate, its paired
    bootstrap interval (seeded from the config's ``seed``; ``report.bootstrap_resamples`` resamples) and the
    verdict. Tables link their CSVs relative to ``out``'s folder."""
    bootstrap = _bootstrap(config)
    sections = []
    for model in models:
        rows = claim_rows(claims, model.outputs, bootstrap=bootstrap)
        blocks = model_blocks(model.outputs, claims, numbers, model.paper_name, regime, rows, Path(out).parent)
        sections.append(
            {
                "name": model.name,
                "paper_name": model.paper_name,
                "card": json.dumps(model.card, indent=2) if model.card else None,
                "summary": _card_summary(model.card) if model.card else [],
                "paper": rows,
                "blocks": [asdict(b) for b in blocks],
                "samples": model.samples,
            }
        )
    html = (
        _environment()
        .get_template("report.html.j2")
        .render(
            sections=sections,
            bootstrap=bootstrap,
            config=config_yaml(config),
            facts=list((facts or {}).items()),
            times=table_html(times) if times is not None and len(times) else None,
            rules=table_html(rule_times(times)) if times is not None and len(times) else None,
        )
    )
    with atomic_path(out) as tmp:
        tmp.write_text(html, encoding="utf-8")


def _bootstrap(config: Mapping) -> Bootstrap:
    """The checks' bootstrap: seeded from the config's ``seed``, ``report.bootstrap_resamples`` resamples."""
    return Bootstrap(seed=int(config["seed"]), resamples=int(config["report"]["bootstrap_resamples"]))


def _card_summary(card: dict) -> list[tuple[str, str]]:
    """Key facts of a model card as (label, value) rows."""
    rows = []
    prior, measured = card.get("prior"), card.get("measured_prior")
    if prior and measured:
        rows.append(("Injected P(yes) without evidence", f"{prior['yes_rate']:.2f}"))
        rows.append(
            (
                "Measured P(yes), None input (minus injected)",
                f"{measured['p_yes_none']:.3f} ({measured['p_yes_none'] - prior['yes_rate']:+.3f})",
            )
        )
        rows.append(("Measured P(yes), Unk input", f"{measured['p_yes_unk']:.3f}"))
        rows.append(
            (
                "Colour prior: injected / measured (None)",
                f"{prior['colour']} {prior['colour_rate']:.2f} / {measured['colour_top_none']} "
                f"{measured['p_prior_colour_none']:.3f}",
            )
        )
    for key, label in (
        ("heldout_naive_accuracy", "Held-out naive accuracy"),
        ("heldout_naive_yes_ratio", "Held-out naive yes-ratio"),
        ("training_cpu_seconds", "Training CPU time (s, all threads)"),
        ("training_seconds", "Training time (s)"),
        ("threads", "CPU threads"),
        ("parameters", "Parameters"),
    ):
        if key in card:
            value = card[key]
            rows.append(
                (label, f"{value:.3f}" if isinstance(value, float) and not key.endswith("seconds") else str(value))
            )
        if key == "heldout_naive_yes_ratio" and "heldout_by_difficulty" in card:
            rows += _difficulty_rows(card["heldout_by_difficulty"])
    return rows


def _difficulty_rows(groups: dict) -> list[tuple[str, str]]:
    """Held-out accuracy by object difficulty, and the yes-ratio on negatives (where the yes-prior leaks) by image."""

    def cells(names, field):
        return " / ".join(f"{groups[g][field]:.3f} (n={groups[g]['questions']})" for g in names)

    return [
        ("Held-out accuracy, easy / hard objects", cells(("easy", "hard"), "accuracy")),
        ("Held-out recall, easy / hard objects", cells(("positive_easy", "positive_hard"), "yes_ratio")),
        (
            "Held-out yes on negatives, images without / with a hard object",
            cells(("negative_easy", "negative_hard"), "yes_ratio"),
        ),
    ]
