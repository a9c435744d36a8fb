"""The workflow's outputs: ``OUTPUTS``, one list of what a run makes for each model, where, when, and which part of
the report reads it.

Each entry is a key template (the report's name for the file: ``"{benchmark}/calibration"``), a path template (with
Snakemake's wildcards: ``{model}``, ``{benchmark}``, ``{split}``, ``{setting}``, ``{dataset}``), what it is made
for (``each``: once per model, per configured benchmark, per benchmark split, per split answered by generation and
setting, or once for the report's sample browser), when it is made (``when``, a predicate on the run's ``Run``, which
``Run.from_config`` derives from the validated config) and the report block that reads it (``block``: a key of
``report.blocks.BLOCKS``, or ``samples`` / ``provenance``).

``workflow/rules/common.smk`` builds ``rule all`` and rule report's inputs from ``outputs_for``, the rules name their
outputs with ``output_path``, and the report's blocks look the files up by the same keys, so no output path is spelt
twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from lvlm_debias.benchmarks import benchmark
from lvlm_debias.inputs.probes import PROBES
from lvlm_debias.scoring.labels import YES_NO

#: the report (rule report)
REPORT_HTML = "results/report.html"
#: a benchmark split's question file (made by the benchmark_questions / hub_questions / url_questions rules)
QUESTIONS = "data/{dataset}/{benchmark}/{split}.jsonl"
#: a benchmark split's first-position label probabilities, per question and probe (rule label_probs)
LABEL_PROBS = "results/{model}/{benchmark}/{split}/label_probs.csv"


@dataclass(frozen=True)
class Run:
    """What a configured run makes outputs for, as ``OUTPUTS``' ``when`` and ``each`` read it (``from_config``)."""

    splits: Mapping[str, tuple[str, ...]]  # benchmark -> its configured splits, in config order
    datasets: Mapping[str, str]  # benchmark -> the dataset folder its question files are in
    official: tuple[str, ...]  # benchmarks read the official code's way beside ours (scoring.readings)
    subsets: tuple[str, ...]  # benchmarks whose questions name a subset
    text_only: tuple[str, ...]  # the text-only probes scored that read the question (None, Unk; not na)
    contrast_grid: bool
    baselines: tuple[str, ...]  # the yes/no benchmarks of the first-token method table (config `baselines`)
    sweep: bool
    prior_probing: bool
    captions: bool
    open_ended: bool
    attention: bool
    classification: tuple[str, ...]  # "benchmark/split" answered by generation (generation.classification)
    settings: tuple[str, ...]  # the generation settings (generation.settings)
    samples: int  # questions in the report's per-sample browser (report.samples)

    @classmethod
    def from_config(cls, config: Mapping, probes: Sequence[str]) -> Run:
        """The run of a config validated against ``config/schema.yaml`` (its defaults filled in) that scores
        ``probes``."""
        benchmarks = config["benchmarks"]
        splits = {name: tuple(entry.get("splits", benchmark(name).splits)) for name, entry in benchmarks.items()}
        generation = config.get("generation") or {}
        classification = generation.get("classification")
        official = "official" in config["scoring"]["readings"]
        return cls(
            splits=splits,
            datasets={name: entry["dataset"] for name, entry in benchmarks.items()},
            official=tuple(b for b in benchmarks if official and benchmark(b).official is not None),
            subsets=tuple(b for b in benchmarks if benchmark(b).subset),
            text_only=tuple(
                p for p, probe in PROBES.items() if probe.kind == "text" and probe.question is None and p in probes
            ),
            contrast_grid=bool(config.get("contrast_grid")),
            baselines=tuple(b for b in benchmarks if config.get("baselines") and _yes_no(b)),
            sweep=bool(config.get("sweep")),
            prior_probing=bool(config.get("prior_probing")),
            captions=bool(generation.get("captions")),
            open_ended=bool(generation.get("open_ended")),
            attention=bool(config.get("attention")),
            classification=tuple(
                f"{b}/{s}" for b in (classification["benchmarks"] if classification else []) for s in splits[b]
            ),
            settings=tuple(generation["settings"]) if generation else (),
            samples=config["report"]["samples"],
        )

    @property
    def samples_from(self) -> tuple[str, str]:
        """(benchmark, split) the report's per-sample browser takes its questions from: the first of each."""
        name = next(iter(self.splits))
        return name, self.splits[name][0]


Wildcards = Mapping[str, str]


def _yes_no(name: str) -> bool:
    """Whether benchmark ``name`` answers yes or no (the method table's benchmarks)."""
    return list(benchmark(name).labels) == list(YES_NO)


def always(run: Run, wildcards: Wildcards) -> bool:
    return True


@dataclass(frozen=True)
class Output:
    """One output: its report ``key`` and ``path`` templates, what it is made for (``each``: a key of ``EACH``),
    ``when`` it is made (given the run and the wildcards of one instance) and the report ``block`` that reads it."""

    key: str
    path: str
    each: str = "model"
    when: Callable[[Run, Wildcards], bool] = always
    block: str | None = None


def _grid(run: Run, w: Wildcards) -> bool:
    return run.contrast_grid


def _baselines(run: Run, w: Wildcards) -> bool:
    return w["benchmark"] in run.baselines


def _sweep(run: Run, w: Wildcards) -> bool:
    return run.sweep


def _captions(run: Run, w: Wildcards) -> bool:
    return run.captions


def _open_ended(run: Run, w: Wildcards) -> bool:
    return run.open_ended


def _classification(run: Run, w: Wildcards) -> bool:
    return bool(run.classification)


def _attention(run: Run, w: Wildcards) -> bool:
    return run.attention


def _prior(run: Run, w: Wildcards) -> bool:
    return run.prior_probing


def _subset_bias(run: Run, w: Wildcards) -> bool:
    return bool(run.subsets and run.text_only)


def _samples(run: Run, w: Wildcards) -> bool:
    return run.samples > 0


#: every output of a model, in the order the report's inputs list them (per benchmark: its outputs, then its splits';
#: then the model's own)
OUTPUTS: list[Output] = [
    # post-hoc calibration (rules calibration_table, calibration_figure, confidence_bins, reading_table)
    Output("{benchmark}/calibration", "results/{model}/{benchmark}/calibration.csv", "benchmark",
           block="{benchmark}/calibration"),
    Output("{benchmark}/calibration_by_subset", "results/{model}/{benchmark}/calibration_by_subset.csv", "benchmark",
           block="{benchmark}/calibration"),
    Output("{benchmark}/calibration_png", "results/{model}/{benchmark}/calibration.png", "benchmark",
           block="{benchmark}/calibration"),
    Output("{benchmark}/confidence_bins", "results/{model}/{benchmark}/confidence_bins.csv", "benchmark",
           block="{benchmark}/confidence_bins"),
    Output("{benchmark}/confidence_bins_png", "results/{model}/{benchmark}/confidence_bins.png", "benchmark",
           block="{benchmark}/confidence_bins"),
    Output("{benchmark}/readings", "results/{model}/{benchmark}/readings.csv", "benchmark",
           lambda run, w: w["benchmark"] in run.official, "{benchmark}/readings"),
    # VDD at the first token over alpha x beta (rule contrast_grid)
    Output("{benchmark}/contrast_grid", "results/{model}/{benchmark}/contrast_grid.csv", "benchmark", _grid,
           "{benchmark}/contrast_grid"),
    Output("{benchmark}/contrast_grid_png", "results/{model}/{benchmark}/contrast_grid.png", "benchmark", _grid,
           "{benchmark}/contrast_grid"),
    # every first-token method beside its nulls, with intervals (rule baselines)
    Output("{benchmark}/baselines", "results/{model}/{benchmark}/baselines.csv", "benchmark", _baselines,
           "{benchmark}/baselines"),
    # per question, for the report's record count and its bootstrap intervals (rules label_probs, decoding_sweep)
    Output("{benchmark}/{split}/label_probs_meta", "results/{model}/{benchmark}/{split}/label_probs.meta.json",
           "split", block="provenance"),
    Output("{benchmark}/{split}/label_probs", LABEL_PROBS, "split", block="{benchmark}/calibration"),
    Output("{benchmark}/{split}/sweep_questions", "results/{model}/{benchmark}/{split}/sweep_questions.csv", "split",
           _sweep, "decoding"),
    # benchmark bias (rule benchmark_bias)
    Output("benchmark_bias", "results/{model}/benchmark_bias.csv",
           when=_subset_bias, block="benchmark_bias"),
    Output("benchmark_bias_png", "results/{model}/benchmark_bias.png",
           when=_subset_bias, block="benchmark_bias"),
    # decoding configurations (rule decoding_summary)
    Output("decoding", "results/{model}/decoding.csv", when=_sweep, block="decoding"),
    Output("decoding_png", "results/{model}/decoding.png", when=_sweep, block="decoding"),
    # prior probing (rule prior_probing)
    Output("prior_probing", "results/{model}/prior_probing.csv", when=_prior, block="prior"),
    Output("prior_probing_png", "results/{model}/prior_probing.png", when=_prior, block="prior"),
    # captions and CHAIR (rule chair)
    Output("chair", "results/{model}/chair.csv", when=_captions, block="chair"),
    Output("chair_png", "results/{model}/chair.png", when=_captions, block="chair"),
    Output("chair_samples", "results/{model}/chair_samples.json", when=_captions, block="chair"),
    Output("chair_captions", "results/{model}/chair_captions.csv", when=_captions, block="chair"),
    # open-ended answers (rule open_ended)
    Output("open_ended", "results/{model}/open_ended.csv", when=_open_ended, block="open_ended"),
    Output("open_ended_samples", "results/{model}/open_ended_samples.json", when=_open_ended, block="open_ended"),
    # classification answered by generation (rules contrastive_answers, contrastive_classification)
    Output("contrastive", "results/{model}/contrastive.csv", when=_classification, block="contrastive"),
    Output("contrastive_png", "results/{model}/contrastive.png", when=_classification, block="contrastive"),
    Output("contrastive/{benchmark}/{split}/{setting}", "results/{model}/{benchmark}/{split}/contrastive/{setting}.csv",
           "classification", block="contrastive"),
    # attention (rule attention)
    Output("attention", "results/{model}/attention.csv", when=_attention, block="attention"),
    Output("attention_tokens", "results/{model}/attention_tokens.csv", when=_attention, block="attention"),
    Output("attention_questions", "results/{model}/attention_questions.csv", when=_attention, block="attention"),
    Output("attention_generation_samples", "results/{model}/attention_generation_samples.csv", when=_attention,
           block="attention"),
    Output("attention_generation", "results/{model}/attention_generation.csv", when=_attention, block="attention"),
    Output("attention_png", "results/{model}/attention.png", when=_attention, block="attention"),
    Output("attention_generation_png", "results/{model}/attention_generation.png", when=_attention,
           block="attention"),
    # the report's per-sample browser: the first benchmark's first split
    Output("samples/label_probs", LABEL_PROBS, "samples", _samples, "samples"),
    Output("samples/questions", QUESTIONS, "samples", _samples, "samples"),
]  # fmt: skip

#: the files the rules pass between them, which rule all does not request and the report does not read: key -> path
FILES: dict[str, str] = {
    "{benchmark}/shards/{shard}": "results/{model}/{benchmark}/shards/{shard}.csv",
    "{benchmark}/shards/{shard}/first_token": "results/{model}/{benchmark}/shards/{shard}.npz",
    "{benchmark}/shards/{shard}/logits": "results/{model}/{benchmark}/shards/{shard}.logits.npz",
    "{benchmark}/references": "results/{model}/{benchmark}/references.csv",
    "{benchmark}/{split}/first_token": "results/{model}/{benchmark}/{split}/first_token.npz",
    "{benchmark}/{split}/logits": "results/{model}/{benchmark}/{split}/logits.npz",
    "{benchmark}/{split}/sweep": "results/{model}/{benchmark}/{split}/sweep.csv",
    "captions/{setting}": "results/{model}/captions/{setting}.csv",
    "open_ended/{setting}": "results/{model}/open_ended/{setting}.csv",
}

#: the path template of every output and file by key
PATHS: dict[str, str] = {**{output.key: output.path for output in OUTPUTS}, **FILES}


def _per_model(run: Run) -> Iterable[Wildcards]:
    yield {}


def _per_classification(run: Run) -> Iterable[Wildcards]:
    for key in run.classification:
        name, split = key.split("/")
        for setting in run.settings:
            yield {"benchmark": name, "split": split, "setting": setting}


def _for_samples(run: Run) -> Iterable[Wildcards]:
    name, split = run.samples_from
    yield {"benchmark": name, "split": split, "dataset": run.datasets[name]}


def _per_benchmark(run: Run) -> Iterable[Wildcards]:
    for name in run.splits:
        yield {"benchmark": name}


def _per_split(run: Run) -> Iterable[Wildcards]:
    for name, splits in run.splits.items():
        for split in splits:
            yield {"benchmark": name, "split": split}


#: what an output is made for (``Output.each``) -> the wildcards of each instance
EACH: dict[str, Callable[[Run], Iterable[Wildcards]]] = {
    "model": _per_model,
    "benchmark": _per_benchmark,
    "split": _per_split,
    "classification": _per_classification,
    "samples": _for_samples,
}


def outputs_for(run: Run, model: str) -> dict[str, str]:
    """Every output ``run`` makes for ``model``: key -> path. Per benchmark (config order) its ``benchmark``
    outputs, then its splits' (``split``); then the others, in ``OUTPUTS`` order."""
    out: dict[str, str] = {}

    def add(output: Output, wildcards: Wildcards) -> None:
        if output.when(run, wildcards):
            out[output.key.format(**wildcards)] = output.path.format(model=model, **wildcards)

    for name, splits in run.splits.items():
        for output in (o for o in OUTPUTS if o.each == "benchmark"):
            add(output, {"benchmark": name})
        for split in splits:
            for output in (o for o in OUTPUTS if o.each == "split"):
                add(output, {"benchmark": name, "split": split})
    for output in OUTPUTS:
        if output.each not in ("benchmark", "split"):
            for wildcards in EACH[output.each](run):
                add(output, wildcards)
    return out


class _Keep(dict):
    """Format values that leave a wildcard not given as it is (``{name}``)."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def output_path(key: str, **wildcards: str) -> str:
    """The path template of output or file ``key`` (``PATHS``) with ``wildcards`` filled in, the others left for
    Snakemake: ``output_path("{benchmark}/calibration", benchmark="pope")`` is
    ``"results/{model}/pope/calibration.csv"``."""
    return PATHS[key].format_map(_Keep(wildcards))


#: the controlled study's files (workflow/rules/study.smk, ``make study``): key -> path template, with the study's
#: wildcards ``{seed}``, ``{yes_rate}`` and ``{level}``; the study's rules and its report read them from here
STUDY_PATHS: dict[str, str] = {
    "tower": "data/study/towers/seed{seed}.safetensors",  # rule study_tower: stage 0, shared by every yes_rate
    "model": "data/study/models/yes{yes_rate}_seed{seed}",  # rule study_model
    "level": "data/study/levels/{level}",  # rule study_level: an evidence level's images and questions
    "level/questions": "data/study/levels/{level}/questions.jsonl",
    "level/annotations": "data/study/levels/{level}/annotations.jsonl",
    "level/images": "data/study/levels/{level}/images",
    "scores": "results/study/scores/yes{yes_rate}_seed{seed}.csv",  # rule study_scores
    "study": "results/study/study.csv",  # rule study_tables
    "gain": "results/study/gain.csv",
    "gain_by_confidence": "results/study/gain_by_confidence.csv",
    "figure": "results/study/gain_vs_prior.png",  # rule study_figure
    "figure/pdf": "results/study/gain_vs_prior.pdf",
    "report": "results/study/report.html",  # rule study_report
}


def study_path(key: str, **wildcards: str) -> str:
    """``STUDY_PATHS[key]`` with the given wildcards filled in and the others left as Snakemake wildcards."""
    return STUDY_PATHS[key].format_map({**{name: f"{{{name}}}" for name in ("seed", "yes_rate", "level")}, **wildcards})
