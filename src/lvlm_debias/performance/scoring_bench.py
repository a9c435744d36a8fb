"""The scoring benchmark: the official way against ours on one benchmark split, one process after the other.

1. Official way (``performance.official``): per question, ``generate`` for Naive, None and Unk.
2. Ours (``scoring.score``): batched first-position scoring; None and Unk once per distinct prompt.
3. A decoding sweep of G configurations from the stored distributions (plus the continuations it needs), against
   G batched ``generate`` runs (timed on a few configurations and scaled to G; the table says how many were timed).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
from transformers import PreTrainedModel, ProcessorMixin

from lvlm_debias.analysis.sweep import stored_temperatures, sweep_configs, sweep_split
from lvlm_debias.benchmarks import answer_parser, benchmark
from lvlm_debias.decoding.sampling import DecodingConfig
from lvlm_debias.performance.measure import timed
from lvlm_debias.performance.official import generate_answers, official_label_probs
from lvlm_debias.performance.targets import Target, agreement, targets_frame
from lvlm_debias.scoring.continuation import Continuations
from lvlm_debias.scoring.first_token import FirstToken, FirstTokenSpec
from lvlm_debias.scoring.score import score_questions, token_label_index

log = logging.getLogger(__name__)

#: the probes both ways score: the image and the two text references of the official code
BENCH_PROBES = ("naive", "none", "unk")
#: speed-up of ours over the official way that the benchmark asks for (2 CPU cores)
SPEEDUP_TARGET = 10.0
#: a whole decoding sweep may cost at most this many single scoring passes
SWEEP_TARGET = 1.5


def scoring_benchmark(
    official: tuple[PreTrainedModel, ProcessorMixin],
    ours: tuple[PreTrainedModel, ProcessorMixin],
    questions: Sequence[Mapping],
    image_root: str | Path,
    *,
    name: str,
    template: str,
    scoring: Mapping,
    sweep: Mapping,
    parser: str | None,
    seed: int = 0,
    generate_runs: int = 2,
) -> dict[str, pd.DataFrame]:
    """Tables ``scoring``, ``agreement``, ``references``, ``sweep`` and ``targets`` of the benchmark.

    ``official`` is the model loaded with eager attention (``output_attentions`` needs it), ``ours`` the same
    checkpoint with the fast default; ``scoring`` and ``sweep`` are the config's sections of those names, ``parser``
    the benchmark's (``benchmarks.<name>.parser``; :func:`~lvlm_debias.benchmarks.answer_parser`).
    """
    if generate_runs < 1:
        raise ValueError(f"generate_runs must be >= 1, got {generate_runs!r}")
    labels = benchmark(name).labels
    top_k, batch_size = scoring["top_k"], scoring["batch_size"]
    n = len(questions)

    (theirs, steps), official_s = timed(
        lambda: official_label_probs(
            *official, questions, image_root, template=template, labels=labels, probes=BENCH_PROBES, top_k=top_k
        )
    )
    spec = FirstTokenSpec(scoring["store_top"], tuple(stored_temperatures(sweep)))
    common = dict(template=template, labels=labels, top_k=top_k, batch_size=batch_size, seed=seed)
    (naive, first_token, naive_passes), naive_s = timed(
        lambda: score_questions(*ours, questions, image_root, probes=("naive",), store=spec, **common)
    )
    (references, _, reference_passes), references_s = timed(
        lambda: score_questions(*ours, questions, image_root, probes=BENCH_PROBES[1:], **common)
    )
    ours_s = naive_s + references_s
    scoring_table = pd.DataFrame(
        [
            {"way": "official", "questions": n, "seconds": official_s, "model_steps": sum(steps.values())},
            {
                "way": "ours",
                "questions": n,
                "seconds": ours_s,
                "model_steps": sum(naive_passes.values()) + sum(reference_passes.values()),
            },
            {"way": "ours: naive pass alone", "questions": n, "seconds": naive_s, "model_steps": naive_passes["naive"]},
        ]
    )
    scoring_table["samples_per_s"] = n / scoring_table["seconds"]
    speedup = official_s / ours_s
    log.info("official %.1f s, ours %.1f s: %.1fx", official_s, ours_s, speedup)

    references_table = pd.DataFrame(
        [
            {
                "probe": probe,
                "questions": n,
                "official_generate_calls": n,
                "official_model_steps": steps[probe],
                "ours_forward_rows": reference_passes[probe],
            }
            for probe in BENCH_PROBES[1:]
        ]
    )

    _, configs = sweep_configs(sweep)
    g = len(configs)
    sweep_s, generate_s, continued, timed_runs = _sweep_costs(
        ours, questions, image_root, first_token, configs, name=name, template=template, sweep=sweep,
        parser=parser, seed=seed, batch_size=batch_size, generate_runs=generate_runs,
    )  # fmt: skip
    sweep_table = pd.DataFrame(
        [
            {"way": "ours: stored distributions + continuations", "configs": g, "seconds": sweep_s,
             "continued_answers": continued, "timed_runs": g},
            {"way": "G generate runs (scaled from the timed runs)", "configs": g, "seconds": generate_s,
             "continued_answers": 0, "timed_runs": timed_runs},
        ]
    )  # fmt: skip
    sweep_table["per_naive_pass"] = sweep_table["seconds"] / naive_s
    sweep_table["per_scoring_pass"] = sweep_table["seconds"] / ours_s

    agree = agreement(pd.concat([naive, references], ignore_index=True), theirs, list(labels))
    share = float(agree["same_argmax"].sum() / agree["questions"].sum())
    targets = [
        Target("scoring with references: speed-up over the official way", speedup, ">=", SPEEDUP_TARGET, "x"),
        Target(f"sweep of {g} configurations, in single (naive) scoring passes", sweep_s / naive_s, "<=", SWEEP_TARGET),
        Target("same argmax label as the official way (share of question-probe rows)", share, "==", 1.0),
    ]
    return {
        "scoring": scoring_table,
        "agreement": agree,
        "references": references_table,
        "sweep": sweep_table,
        "targets": targets_frame(targets),
    }


def _sweep_costs(
    ours: tuple[PreTrainedModel, ProcessorMixin],
    questions: Sequence[Mapping],
    image_root: str | Path,
    first_token: FirstToken,
    configs: Sequence[DecodingConfig],
    *,
    name: str,
    template: str,
    sweep: Mapping,
    parser: str | None,
    seed: int,
    batch_size: int,
    generate_runs: int,
) -> tuple[float, float, int, int]:
    """Seconds of the sweep over ``configs`` from stored distributions (continuations included), seconds of G
    batched ``generate`` runs (mean of ``generate_runs`` timed sampling configurations, times G), answers continued,
    runs timed."""
    model, processor = ours
    answers = pd.DataFrame(
        {
            "label": [q["label"] for q in questions],
            "subset": [q.get("subset", "") for q in questions],
            "pair": [q.get("pair", "") for q in questions],
        },
        index=pd.Index([q["question_id"] for q in questions], name="question_id"),
    )
    max_new_tokens = sweep["max_new_tokens"]
    continuations = Continuations.for_questions(
        model, processor, questions, image_root, template, first_token.top_ids, seed, max_new_tokens, batch_size
    )
    token_labels = token_label_index(processor, benchmark(name).labels).numpy()
    parse = answer_parser(name, parser)
    table, sweep_s = timed(
        lambda: sweep_split(name, answers, first_token, token_labels, configs, seed, parse, continuations)
    )
    run_seconds = [
        timed(
            lambda config=config: generate_answers(
                model, processor, questions, image_root, template=template, config=config,
                max_new_tokens=max_new_tokens, batch_size=batch_size, seed=seed,
            )
        )[1]
        for config in [c for c in configs if c.do_sample][:generate_runs]
    ]  # fmt: skip
    generate_s = sum(run_seconds) / len(run_seconds) * len(configs)
    return sweep_s, generate_s, int(table["continued"].sum()), len(run_seconds)
