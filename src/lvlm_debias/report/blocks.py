"""The report's blocks for one model, in the paper's order, each built from the run's own tables and figures."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from lvlm_debias.analysis.attention import attention_findings, shares_wide
from lvlm_debias.analysis.baselines import display_table, method_findings
from lvlm_debias.analysis.bias import bias_findings
from lvlm_debias.analysis.calibration import calibration_findings, paper_layout
from lvlm_debias.analysis.contrast_grid import grid_findings
from lvlm_debias.analysis.generation import chair_findings, contrastive_findings
from lvlm_debias.analysis.prior import prior_findings, top_answers_summary
from lvlm_debias.analysis.readings import reading_deltas, reading_findings
from lvlm_debias.benchmarks import BENCHMARKS, of_family
from lvlm_debias.report.html import Block, Table, answers_html, captions_html, data_uri, table_html
from lvlm_debias.report.paper import Bootstrap, Claim, PublishedNumber, Regime, claim_rows, number_rows, regime_rows

PERCENT = ["accuracy", "precision", "recall", "f1", "yes_ratio", "acc_plus"]


Link = Callable[[Path | str | None], str | None]


def _table(table: pd.DataFrame | Path, percent: list[str] = PERCENT) -> str:
    """``table`` (or the CSV at that path) as HTML, the ``percent`` columns it has shown in %."""
    table = table if isinstance(table, pd.DataFrame) else pd.read_csv(table)
    return table_html(table, [c for c in percent if c in table.columns])


def _entry(
    caption: str, table: pd.DataFrame | Path, link: Link, percent: list[str] = PERCENT, csv: Path | None = None
) -> Table:
    """A block's table: ``table`` (or the CSV at that path) with its caption, row count and the link to ``csv`` (by
    default the path shown)."""
    frame = table if isinstance(table, pd.DataFrame) else pd.read_csv(table)
    source = csv if csv is not None else (None if isinstance(table, pd.DataFrame) else table)
    return Table(caption, _table(frame, percent), len(frame), link(source))


def linker(report_dir: Path | str | None) -> Link:
    """Links from the report in ``report_dir`` to an output: the path relative to that folder (POSIX), so the report
    links the CSVs it does not embed; no links without a folder."""

    def link(path: Path | str | None) -> str | None:
        if report_dir is None or path is None:
            return None
        return Path(os.path.relpath(Path(path).resolve(), Path(report_dir).resolve())).as_posix()

    return link


def model_blocks(
    outputs: Mapping[str, Path],
    claims: Sequence[Claim] = (),
    numbers: Sequence[PublishedNumber] = (),
    paper_name: str | None = None,
    regime: Regime | None = None,
    paper_rows: Sequence[dict] | None = None,
    report_dir: Path | str | None = None,
    bootstrap: Bootstrap | None = None,
) -> list[Block]:
    """Blocks for whatever outputs a model has: published numbers beside this run's (for the model the published
    numbers call ``paper_name``) or, for a model with none, the regime a LLaVA-like model is in; prior probing,
    calibration per benchmark, confidence bins, benchmark bias, decoding sweeps; each with the paper's findings beside
    this run's (``paper_rows``: ``claim_rows`` of ``claims``, computed here with ``bootstrap`` when not given; with
    claims, one of the two is needed). Tables link their CSV relative to ``report_dir`` (the report's folder), if
    given."""
    link = linker(report_dir)
    if paper_rows is None and claims and bootstrap is None:
        raise ValueError("model_blocks needs paper_rows or a bootstrap to check claims")
    rows = list(claim_rows(claims, outputs, bootstrap=bootstrap) if paper_rows is None and claims else paper_rows or [])
    blocks = _published_blocks(outputs, numbers, paper_name, regime, link) + _blocks(outputs, link)
    pope = next((n for n in BENCHMARKS if of_family(n, "pope") and f"{n}/calibration" in outputs), None)
    for key, block in blocks:
        name, _, rest = key.partition("/")
        where = f"pope/{rest}" if rest and name == pope else key
        block.paper = [r for r in rows if r["block"] == where]
    return [block for _, block in blocks]


def _published_blocks(
    outputs: Mapping[str, Path],
    numbers: Sequence[PublishedNumber],
    paper_name: str | None,
    regime: Regime | None,
    link: Link,
) -> list[tuple[str, Block]]:
    """The published numbers beside this run's; else, for a model without any, the regime's beside its naive POPE."""
    beside = number_rows(numbers, paper_name, outputs)
    if len(beside):
        tables = [
            _entry(f"{whose}: published for {paper_name} beside this run (%; MME scores in points)", rows, link, [])
            for whose, rows in beside.groupby("whose", sort=False)
        ]
        block = Block(
            "Published numbers beside this run",
            "Numbers printed by others for this model, each beside the row of this run that computes the same "
            "thing (delta = this run - published; std where the source printed one). None of them is from the "
            "paper's own tables, which could not be read where this workflow was written.",
            tables=tables,
        )
        return [("published", block)]
    regime_table = regime_rows(numbers, regime, outputs)
    if regime is None or regime_table.empty:
        return []
    block = Block(
        f"Regime: this model's naive POPE beside {regime.model} ({regime.whose})",
        f"What a LLaVA-like model does on POPE: {regime.model} is not yes-biased (about 40 % yes, high precision, "
        "lower recall). This model's naive answers (first token, clean reading) per split beside those published "
        "numbers, to judge whether it behaves like the real model, not to rank it.",
        tables=[_entry(f"Naive POPE (%) beside {regime.model}", regime_table, link, [])],
    )
    return [("regime", block)]


def _prior_block(outputs: Mapping[str, Path], link: Link) -> Block | None:
    """Prior probing: the three most likely answers per question and probe."""
    if "prior_probing" not in outputs:
        return None
    table = pd.read_csv(outputs["prior_probing"])
    return Block(
        "Prior probing (paper, Fig. 1)",
        "Questions about an object that is not in the image, asked with the real image (naive) and with every "
        "input that carries no visual information. The model still answers concretely: its language prior. "
        "The table shows the three most likely answers per probe; the CSV holds the top answers.",
        findings=prior_findings(table),
        tables=[
            _entry("Top answers per question and probe", top_answers_summary(table), link, [], outputs["prior_probing"])
        ],
        figures=[data_uri(outputs["prior_probing_png"])],
    )


def _calibration_block(name: str, outputs: Mapping[str, Path], link: Link) -> Block | None:
    """A benchmark's calibration table in the paper's layout, its tidy CSV and (with subsets) accuracy per subset."""
    if f"{name}/calibration" not in outputs:
        return None
    table = pd.read_csv(outputs[f"{name}/calibration"])
    headline = BENCHMARKS[name].headline
    methods = list(dict.fromkeys(table["method"]))
    csv = outputs[f"{name}/calibration"]
    spec = BENCHMARKS[name]
    layout = paper_layout(table, spec.paper_layout)
    layout_html = table_html(layout, methods if spec.layout_percent else ())
    tables = [
        Table(
            f"{name.upper()} in the paper's layout (metrics in %, MME scores in points)",
            layout_html,
            len(layout),
            link(csv),
        ),
        _entry(f"{name.upper()}: every metric per split and method (tidy CSV)", csv, link),
    ]
    if BENCHMARKS[name].subset:
        tables.append(_entry(f"{name.upper()}: accuracy per subset", outputs[f"{name}/calibration_by_subset"], link))
    return Block(
        f"{name.upper()}: naive vs post-hoc calibration with six references (paper, Tables 1-3)",
        "Each question is answered from the first generated position: the label words' probabilities among "
        "the top-100 next tokens, normalised over the labels. naive takes the argmax; each reference method "
        "divides by the model's label distribution for the same question under that reference input and "
        "renormalises (q ∝ p / p_ref).",
        findings=calibration_findings(table, headline),
        tables=tables,
        figures=[data_uri(outputs[f"{name}/calibration_png"])],
    )


def _confidence_bins_block(name: str, outputs: Mapping[str, Path], link: Link) -> Block | None:
    """A benchmark's gain over naive per bin of the naive prediction's confidence."""
    if f"{name}/confidence_bins" not in outputs:
        return None
    bins = _entry(
        "Per bin and method", outputs[f"{name}/confidence_bins"], link, ["accuracy", "naive_accuracy", "gain"]
    )
    return Block(
        f"{name.upper()}: gain over naive by naive confidence (paper, Fig. 4)",
        "Accuracy of each method minus naive accuracy within bins of the naive prediction's confidence; "
        "bins with too few questions are hatched in the figure and marked in the table (enough = False).",
        tables=[bins],
        figures=[data_uri(outputs[f"{name}/confidence_bins_png"])],
    )


def _bias_block(outputs: Mapping[str, Path], link: Link) -> Block | None:
    """Text alone against the image per subset."""
    if "benchmark_bias" not in outputs:
        return None
    table = pd.read_csv(outputs["benchmark_bias"])
    percent = [c for c in table.columns if "accuracy" in c] + ["best_text_only", "gap"]
    return Block(
        "Benchmark bias: text alone vs the image per subset (paper, Section 5)",
        "Accuracy with the image (naive) against the inputs without visual information (None, Unk) per "
        "subset; a subset is flagged where text alone matches or beats the image.",
        findings=bias_findings(table),
        tables=[_entry("Per subset", outputs["benchmark_bias"], link, percent)],
        figures=[data_uri(outputs["benchmark_bias_png"])],
    )


def _decoding_block(outputs: Mapping[str, Path], link: Link) -> Block | None:
    """The decoding sweep's default and best configuration per benchmark."""
    if "decoding" not in outputs:
        return None
    return Block(
        "Decoding configurations (paper, Section 6)",
        "Temperature, top-p and top-k derived exactly from the stored first-position distributions "
        "(expected metric) and by seeded sampling (sampled metric; where a sampled first token is not a "
        "label word the model generates the rest of the answer, counted in 'continued', and the benchmark's "
        "parser, named in the 'parser' column, reads it).",
        tables=[_entry("Default vs best configuration per benchmark", outputs["decoding"], link, [])],
        figures=[data_uri(outputs["decoding_png"])],
    )


def _contrast_grid_block(name: str, outputs: Mapping[str, Path], link: Link) -> Block | None:
    """VDD at the first token over alpha and beta, splits averaged."""
    if f"{name}/contrast_grid" not in outputs:
        return None
    table = pd.read_csv(outputs[f"{name}/contrast_grid"])
    expected = table[table["decoding"] == "expected"]
    summary = expected.groupby(["method", "alpha", "beta"], sort=False).mean(numeric_only=True).reset_index()
    return Block(
        f"{name.upper()}: VDD at the first token over alpha and beta (from the logit cache)",
        "Every (alpha, beta) of the contrast_grid config derived exactly from the stored logits, without "
        "generating: the expected metric of one first token sampled at the grid's temperature (splits "
        "averaged; per split and greedy in the CSV). alpha 0 is the plausibility cut alone, the baseline a "
        "contrast has to beat.",
        findings=grid_findings(table, BENCHMARKS[name].headline),
        tables=[
            _entry(
                f"{name.upper()}: expected metrics per method, alpha and beta (splits averaged)",
                summary.drop(columns="temperature"),
                link,
                PERCENT,
                outputs[f"{name}/contrast_grid"],
            )
        ],
        figures=[data_uri(outputs[f"{name}/contrast_grid_png"])],
    )


def _baselines_block(name: str, outputs: Mapping[str, Path], link: Link) -> Block | None:
    """Every first-token method beside greedy, sampling, cut-only and its yes-shift null, with intervals."""
    if f"{name}/baselines" not in outputs:
        return None
    table = pd.read_csv(outputs[f"{name}/baselines"])
    return Block(
        f"{name.upper()}: every method beside its null baselines",
        "Each contrastive first step (sampled at the table's temperature after the plausibility cut), each "
        "calibration method and, where the split was answered by generation, each decoding method at each setting "
        "(rows 'method [setting]', kind generation: one seeded decoding per question, so M3ID, ICD and OPERA "
        "appear here; OPERA, a beam search, at the first setting only), "
        "beside greedy, plain sampling, the plausibility cut alone (cut-only: alpha 0) and a "
        "yes-shift null: the naive model answering yes to the same share of questions as the method (the "
        "questions with the largest naive yes-no margin). Most POPE gains of VCD-like methods have been traced to "
        "these two nulls (arXiv 2504.10020). Every number has its paired bootstrap 95 % interval over the split's "
        "questions (points); a comparison says yes (the method beats the null), no, or inconclusive (the "
        "interval spans 0). The first-token rows are exact from the stored logits (no generation, no seeds).",
        findings=method_findings(table),
        tables=[
            _entry(
                f"{name.upper()}: methods and nulls per split (F1 differences: method minus null)",
                display_table(table),
                link,
                [],
                outputs[f"{name}/baselines"],
            )
        ],
    )


def _chair_block(outputs: Mapping[str, Path], link: Link) -> Block | None:
    """CHAIR per setting and decoding method, and the captions side by side."""
    if "chair" not in outputs:
        return None
    table = pd.read_csv(outputs["chair"])
    samples = json.loads(Path(outputs["chair_samples"]).read_text())
    block = Block(
        "Captions: VDD vs VCD vs naive decoding, CHAIR (paper, Section 4.2)",
        'Each evaluation image is captioned ("Describe the image.") with naive decoding, VCD (contrast with '
        "the image noised at diffusion step 500) and VDD (contrast with the input without the image: None, Unk, "
        "or Both = the mean of their logits) and the configured methods beyond the paper (M3ID, ICD, OPERA), at the "
        "sweep's default and best decoding settings (OPERA, a beam search that does not sample, at the first only, "
        "beside beam: plain beam search, its null). "
        "CHAIR_i: "
        "hallucinated object mentions / all mentions; CHAIR_s: captions with any hallucinated object; recall: "
        "ground-truth objects mentioned.",
        findings=chair_findings(table),
        tables=[_entry("CHAIR per setting and method", outputs["chair"], link, ["chair_i", "chair_s", "recall"])],
        figures=[data_uri(outputs["chair_png"])],
    )
    for setting, rows in samples.items():
        caption = f"Captions side by side ({setting} setting); objects not in the image are marked"
        block.tables.append(Table(caption, captions_html(rows), len(rows)))
    return block


def _open_ended_block(outputs: Mapping[str, Path], link: Link) -> Block | None:
    """Open-ended answers per setting and decoding method, side by side with the reference."""
    if "open_ended" not in outputs:
        return None
    samples = json.loads(Path(outputs["open_ended_samples"]).read_text())
    block = Block(
        "Open-ended answers: VDD vs VCD vs naive decoding (LLaVA-Bench, paper, Section 4.2)",
        "Each question is answered with every decoding method at the sweep's default and best settings. The "
        "paper has GPT-4 score these answers against the reference answer; no judge runs here, so the table "
        "holds only answer length, empty answers and the share of answers that differ from naive decoding's.",
        tables=[_entry("Per setting and method", outputs["open_ended"], link, ["empty", "differs"])],
    )
    for setting, rows in samples.items():
        caption = f"Answers side by side ({setting} setting), with the reference"
        block.tables.append(Table(caption, answers_html(rows), len(rows)))
    return block


def _contrastive_block(outputs: Mapping[str, Path], link: Link) -> Block | None:
    """The classification benchmarks answered by generation, per benchmark."""
    if "contrastive" not in outputs:
        return None
    table = pd.read_csv(outputs["contrastive"])
    return Block(
        "Classification answered by generation: VDD vs VCD vs naive (paper, Section 4.2)",
        "The yes/no benchmarks answered by sampling a short answer under each decoding method and setting, the "
        "answer read by the benchmark's parser, named in each table's heading and 'parser' column (unclear: "
        "answers without the word yes or no, which POPE's parsers still map to a label; MME's parser reads an "
        "answer whose first 4 characters hold neither as 'other', which is wrong).",
        findings=contrastive_findings(table),
        tables=[
            _entry(
                f"{name.upper()} per split, setting and method (answers read by the "
                f"{', '.join(dict.fromkeys(rows['parser']))} parser)",
                rows.dropna(axis=1, how="all"),
                link,
                PERCENT + ["unclear"],
                outputs["contrastive"],
            )
            for name, rows in table.groupby("benchmark", sort=False)
        ],
        figures=[data_uri(outputs["contrastive_png"])],
    )


def _readings(name: str, outputs: Mapping[str, Path], link: Link) -> Block | None:
    """A benchmark's two readings, shown after its calibration block."""
    if f"{name}/calibration" not in outputs or f"{name}/readings" not in outputs:
        return None
    return _readings_block(name, outputs[f"{name}/readings"], link)


def _attention(outputs: Mapping[str, Path], link: Link) -> Block | None:
    return _attention_block(outputs, link) if "attention" in outputs else None


Builder = Callable[..., Block | None]

#: the report's blocks of one model in the paper's order, in rows of block key (``lvlm_debias.outputs.OUTPUTS``'
#: ``block``) -> its builder, which gives None where the run did not make its outputs. The "{benchmark}" blocks of a
#: row are built per benchmark (registry order), each benchmark's together: its readings right after its calibration.
BLOCKS: list[dict[str, Builder]] = [
    {"prior": _prior_block},
    {"attention": _attention},
    {"{benchmark}/calibration": _calibration_block, "{benchmark}/readings": _readings},
    {"{benchmark}/confidence_bins": _confidence_bins_block},
    {"benchmark_bias": _bias_block},
    {"decoding": _decoding_block},
    {"{benchmark}/contrast_grid": _contrast_grid_block},
    {"{benchmark}/baselines": _baselines_block},
    {"chair": _chair_block},
    {"open_ended": _open_ended_block},
    {"contrastive": _contrastive_block},
]


def _blocks(outputs: Mapping[str, Path], link: Link) -> list[tuple[str, Block]]:
    """(key, block) of every block of ``BLOCKS`` that the outputs make, in order."""
    built = []
    for row in BLOCKS:
        for name in BENCHMARKS if any("{benchmark}" in key for key in row) else [None]:
            for key, build in row.items():
                block = build(outputs, link) if name is None else build(name, outputs, link)
                if block is not None:
                    built.append((key.format(benchmark=name), block))
    return built


def _readings_block(name: str, path: Path, link: Link) -> Block:
    """Our reading of the label probabilities beside the official code's, with the change in each shown metric."""
    table = pd.read_csv(path)
    deltas = reading_deltas(table, name)
    percent = [c for c in deltas.columns if c.rsplit("_", 1)[0] in PERCENT]
    return Block(
        f"{name.upper()}: our reading of the label probabilities vs the official code's",
        "The same calibration methods read two ways. clean (ours, every other table): the raw first-position "
        "logits, each label's spellings summed among the top-100 tokens, the naive distribution itself. official "
        "(LLaVA-Align's): the first step's scores after its sampling settings, only the first spelling of each label "
        "among the top-10 tokens, None without the '<image>\\n' text, and a naive step already contrasted with "
        "VDD-Both; its settings are scoring.official. 'change' is official minus clean; 'exact' in the CSV is the "
        "share of questions whose official reading the stored logits determine exactly.",
        findings=reading_findings(deltas, name),
        tables=[
            _entry(
                f"{name.upper()}: {', '.join(BENCHMARKS[name].shown)} per reading (%; MME scores in points)",
                deltas,
                link,
                percent,
                path,
            ),
            _entry(f"{name.upper()}: every metric per split, method and reading (tidy CSV)", path, link),
        ],
    )


def _attention_block(outputs: Mapping[str, Path], link: Link) -> Block:
    """The attention analysis: shares per layer and probe, the most attended tokens, the image share per generation
    step; findings computed from the tables."""
    table = pd.read_csv(outputs["attention"])
    generation = pd.read_csv(outputs["attention_generation"]) if "attention_generation" in outputs else None
    wide = shares_wide(table)
    tables = [
        _entry(
            "Share of the answer position's attention per layer (%; n_: mean tokens in the group)",
            wide,
            link,
            ["system", "image", "question"],
            outputs["attention"],
        )
    ]
    if "attention_tokens" in outputs:
        caption = "Most attended tokens per probe (mean over layers, heads and questions; %)"
        tables.append(_entry(caption, outputs["attention_tokens"], link, ["share"]))
    figures = [data_uri(outputs["attention_png"])] if "attention_png" in outputs else []
    if generation is not None:
        steps = generation.pivot(index="step", columns="group", values="share").reset_index()
        steps.columns.name = None
        steps = steps.merge(generation.groupby("step")["n_samples"].first().reset_index(), on="step")
        caption = "Attention of each new position per generation step (%; mean over layers, heads and samples)"
        tables.append(
            _entry(caption, steps, link, ["system", "image", "question", "generated"], outputs["attention_generation"])
        )
        if "attention_generation_png" in outputs:
            figures.append(data_uri(outputs["attention_generation_png"]))
    return Block(
        "Attention to system, image and question tokens (paper, Fig. 2)",
        "The attention of the answer position (the prompt's last token, which predicts the first answer token) on "
        "the system tokens (before the image), the image tokens (where the processor put them) and the question "
        "tokens (the rest of the prompt), per layer, averaged over heads and sampled POPE questions, for the real "
        "image (naive), no image tokens (none) and the noised image (noise); padding is in no group. Then, "
        "describing the image greedily, the share of each newly generated token's attention on each group (step 0: "
        "the answer position). The model runs with eager attention for this analysis only.",
        findings=attention_findings(table, generation),
        tables=tables,
        figures=figures,
    )
