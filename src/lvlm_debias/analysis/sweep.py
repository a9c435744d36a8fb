"""Decoding-configuration sweeps of a benchmark split from the stored first-position distributions.

For each configuration (temperature, top-p, top-k, or greedy) the first answer token's distribution follows exactly
from the stored top logits and log-normalisers (``decoding.sampling``). Two numbers per metric:

- **expected**: the metric's expectation over that distribution (exact for accuracy and MME's acc / acc+; POPE's
  precision, recall and F1 are ratios of expected counts, a first-order approximation). Mass on first tokens that are
  not label words counts as a wrong answer ("other"), which is how VCD's parser scores an answer that names neither
  label.
- **sampled**: one seeded draw per question. Where the drawn first token is not a label word, the model generates the
  rest of the answer and the benchmark's parser reads it (``continue_answer``); ``continued`` counts those.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lvlm_debias.benchmarks import AnswerParser, benchmark, expected_metrics, metrics
from lvlm_debias.data.questions import load_questions
from lvlm_debias.decoding.sampling import (
    DecodingConfig,
    config_grid,
    label_distribution,
    sample_tokens,
    sampling_distribution_with_bound,
)
from lvlm_debias.inputs.noise import stable_seed
from lvlm_debias.scoring.first_token import FirstToken

#: (question rows, their first token ids, -1 for a token outside the stored set; config) -> the generated answers
Continue = Callable[[Sequence[int], Sequence[int], DecodingConfig], list[str]]


def sweep_configs(settings: Mapping) -> tuple[DecodingConfig, list[DecodingConfig]]:
    """The default configuration and the grid (greedy first, then every sampling configuration) of ``settings``."""
    default = DecodingConfig(**settings.get("default", {}))
    grid = config_grid(settings.get("temperatures", [1.0]), settings.get("top_ps", [1.0]), settings.get("top_ks", [0]))
    configs = [DecodingConfig(do_sample=False), *dict.fromkeys([default, *grid])]
    return default, configs


def stored_temperatures(settings: Mapping) -> list[float]:
    """The temperatures whose log-normalisers the scoring pass stores: 1, every swept one and the default's."""
    default = settings.get("default", {}).get("temperature", 1.0)
    return sorted({1.0, *settings.get("temperatures", []), default})


def sweep_split(
    name: str,
    answers: pd.DataFrame,
    first_token: FirstToken,
    token_labels: np.ndarray,
    configs: Sequence[DecodingConfig],
    seed: int,
    parse: AnswerParser,
    continue_answer: Continue | None = None,
) -> pd.DataFrame:
    """One row per configuration: expected and sampled metrics, the mean non-label mass, the number of sampled
    answers that needed a generated continuation, the parser that read those (``parser``), and the largest bound
    on the stored tail's error.

    ``answers`` (index question_id; ``label``, ``subset``, ``pair``) and ``first_token`` hold the same questions;
    ``parse(text, label)`` reads a generated answer. Without ``continue_answer`` a non-label draw counts as "other".
    """
    labels = list(benchmark(name).labels)
    first_token = first_token.select(answers.index)
    top_ids, top_logits = first_token.top_ids, first_token.top_logits
    rows = []
    for config in configs:
        log_z = first_token.log_z_at(config.temperature)
        probs, tail, bound = sampling_distribution_with_bound(top_logits, log_z, config)
        label_dist = label_distribution(probs, tail, top_ids, token_labels, len(labels))
        expected = expected_metrics(name, label_dist, answers)
        drawn = sample_tokens(probs, tail, stable_seed(seed, name, config.name))
        token = np.where(drawn >= 0, top_ids[np.arange(len(drawn)), np.maximum(drawn, 0)], -1)
        drawn_label = np.where(token >= 0, token_labels[np.maximum(token, 0)], -1)
        predictions = [labels[lab] if lab >= 0 else "other" for lab in drawn_label]
        rows_to_continue = np.flatnonzero(drawn_label < 0)
        continued = len(rows_to_continue) if continue_answer is not None else 0
        if continued:
            texts = continue_answer(rows_to_continue.tolist(), token[rows_to_continue].tolist(), config)
            for i, text in zip(rows_to_continue, texts, strict=True):
                predictions[i] = parse(text, answers["label"].iloc[i])
        sampled = metrics(name, answers.assign(prediction=predictions))
        rows.append(
            {
                "config": config.name,
                "do_sample": config.do_sample,
                "temperature": config.temperature,
                "top_p": config.top_p,
                "top_k": config.top_k,
                **{f"expected_{k}": v for k, v in expected.items()},
                **{f"sampled_{k}": sampled[k] for k in expected},
                "other_mass": float(label_dist[:, -1].mean()),
                "continued": continued,
                "parser": parse.name,
                "tail_bound": float(bound.max()),
            }
        )
    return pd.DataFrame(rows)


def sweep_questions(
    name: str,
    answers: pd.DataFrame,
    first_token: FirstToken,
    token_labels: np.ndarray,
    configs: Sequence[DecodingConfig],
) -> pd.DataFrame:
    """Per configuration and question, the first answer token's label distribution that :func:`sweep_split`'s
    expected metrics average: columns ``config``, ``question_id``, ``label`` (gold), ``p_<label>`` per label and
    ``p_other`` (the non-label mass). The expected metrics are functions of these rows (e.g. POPE's expected TP is
    the sum of ``p_yes`` over the yes questions), so a bootstrap over questions can resample them.

    ``answers`` (index question_id; ``label``) and ``first_token`` hold the same questions.
    """
    labels = list(benchmark(name).labels)
    first_token = first_token.select(answers.index)
    frames = []
    for config in configs:
        probs, tail, _ = sampling_distribution_with_bound(
            first_token.top_logits, first_token.log_z_at(config.temperature), config
        )
        dist = label_distribution(probs, tail, first_token.top_ids, token_labels, len(labels))
        frame = pd.DataFrame(dist, columns=[*(f"p_{label}" for label in labels), "p_other"])
        frame.insert(0, "label", answers["label"].to_numpy())
        frame.insert(0, "question_id", answers.index.to_numpy())
        frame.insert(0, "config", config.name)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def sweep_summary(sweeps: Mapping[str, pd.DataFrame], default: DecodingConfig) -> pd.DataFrame:
    """Per benchmark (splits averaged): the default configuration's expected headline metric, the best sampling
    configuration and the best overall (greedy included): the paper's "Default / Sampling / Overall"; and
    ``parser``, the parser that read the sampled answers' continuations (:func:`sweep_split`)."""
    rows = []
    for name in dict.fromkeys(key.split("/")[0] for key in sweeps):
        column = f"expected_{benchmark(name).headline}"
        tables = [t for key, t in sweeps.items() if key.split("/")[0] == name]
        mean = pd.concat(tables).groupby(["config", "do_sample"], sort=False)[column].mean().reset_index()
        sampling = mean[mean["do_sample"]]
        best_sampling = sampling.loc[sampling[column].idxmax()]
        best = mean.loc[mean[column].idxmax()]
        default_value = float(mean.loc[mean["config"] == default.name, column].iloc[0])
        rows.append(
            {
                "benchmark": name,
                "metric": benchmark(name).headline,
                "parser": ", ".join(dict.fromkeys(pd.concat(tables)["parser"])),
                "default_config": default.name,
                "default": default_value,
                "best_sampling_config": best_sampling["config"],
                "best_sampling": float(best_sampling[column]),
                "best_overall_config": best["config"],
                "best_overall": float(best[column]),
                "gain": float(best[column]) - default_value,
            }
        )
    return pd.DataFrame(rows)


def sweep_with_entry(
    model_dir: str | Path,
    entry: Mapping,
    name: str,
    scores: pd.DataFrame,
    first_token: FirstToken,
    questions: str | Path,
    image_root: str | Path,
    settings: Mapping,
    parse: AnswerParser,
    *,
    seed: int,
    batch_size: int,
    skip_bad: bool,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One split's decoding sweep with the model of config ``entry`` loaded from ``model_dir``: the continuations of
    the naive top tokens (generated once, :class:`~lvlm_debias.scoring.continuation.Continuations`), then
    :func:`sweep_split` and :func:`sweep_questions` over every configuration of ``settings``. ``scores`` is the split's
    first-token table (its naive rows give the answers), ``first_token`` its stored top logits. (The model code is
    imported here: the rest of this module is read by jobs that load no model.)"""
    from lvlm_debias.models.load import load_entry
    from lvlm_debias.scoring.continuation import Continuations
    from lvlm_debias.scoring.score import token_label_index

    spec = benchmark(name)
    answers = scores[scores["probe"] == "naive"].set_index("question_id")[["label", "subset", "pair"]]
    model, processor = load_entry(str(model_dir), entry)
    records, _ = load_questions(questions, image_root, list(spec.labels), skip_bad=skip_bad)
    by_id = {q["question_id"]: q for q in records}
    continuations = Continuations.for_questions(
        model, processor, [by_id[qid] for qid in answers.index], image_root, entry["prompt"],
        first_token.select(answers.index).top_ids, seed, settings["max_new_tokens"], batch_size,
    )  # fmt: skip
    _, configs = sweep_configs(settings)
    token_labels = token_label_index(processor, spec.labels).numpy()
    table = sweep_split(name, answers, first_token, token_labels, configs, seed, parse, continuations)
    return table, sweep_questions(name, answers, first_token, token_labels, configs)
