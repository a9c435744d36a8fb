"""The controlled study (``make study``): when does debiasing help? Tables and findings over a grid of injected
prior strengths (``yes_rate``) x evidence levels (how hard the asked-about objects are to see) x training seeds.

Every function reads one tidy frame of scores: one row per model, evaluation level, question and probe, with columns
``yes_rate``, ``seed``, ``level``, ``question_id``, ``probe``, ``label``, ``p_yes``, ``p_no`` (raw label
probabilities, as ``scoring.score.score_questions`` writes them). A *cell* is one (``yes_rate``, ``level``); every
seed of a cell answers the same questions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from lvlm_debias.analysis.bins import EDGES, confidence_bins
from lvlm_debias.analysis.calibration import LABELS, debiased, predictions
from lvlm_debias.calibration import calibration_method
from lvlm_debias.metrics.bootstrap import f1_from_counts, paired_bootstrap, verdict
from lvlm_debias.metrics.pope import pope_metrics

NAIVE = "naive"
#: the calibration methods of the study, after naive: the paper's three references and batch calibration
STUDY_METHODS = ("none", "unk", "both", "batch")
#: metrics whose gain over naive gets a bootstrap interval
GAIN_METRICS = ("accuracy", "f1")
CELL = ["yes_rate", "level"]
MODEL = ["yes_rate", "seed", "level"]


def _groups(scores: pd.DataFrame, keys: Sequence[str]):
    """(key tuple, rows) of ``scores`` grouped by ``keys`` in first-seen order of yes_rate, seed and level."""
    return scores.groupby(list(keys), sort=True, observed=True)


def study_table(scores: pd.DataFrame, methods: Sequence[str] = STUDY_METHODS) -> pd.DataFrame:
    """One row per (yes_rate, seed, level, method), naive first: ``n``, ``accuracy``, ``f1``, ``yes_ratio`` (POPE's
    metrics, "yes" positive) and, against naive on the same model and questions, ``gain_accuracy = accuracy -
    accuracy_naive``, ``gain_f1`` and ``yes_ratio_change`` (0 for naive)."""
    methods = [NAIVE, *[m for m in methods if m != NAIVE]]
    rows = []
    for (yes_rate, seed, level), group in _groups(scores, MODEL):
        gold = group[group["probe"] == NAIVE].set_index("question_id")["label"]
        base = None
        for method in methods:
            said = predictions(debiased(group, method, LABELS)).loc[gold.index]
            m = pope_metrics(list(said), list(gold))
            if method == NAIVE:
                base = m
            rows.append(
                {
                    "yes_rate": yes_rate, "seed": seed, "level": level, "method": method, "n": len(gold),
                    "accuracy": m["accuracy"], "f1": m["f1"], "yes_ratio": m["yes_ratio"],
                    "gain_accuracy": m["accuracy"] - base["accuracy"], "gain_f1": m["f1"] - base["f1"],
                    "yes_ratio_change": m["yes_ratio"] - base["yes_ratio"],
                }
            )  # fmt: skip
    return pd.DataFrame(rows)


def _said_yes(group: pd.DataFrame, method: str, weights: np.ndarray | None = None) -> np.ndarray:
    """Whether ``method`` answers "yes", per question (sorted by id): (N,), or (R, N) for a per-split method (batch
    calibration) under resample ``weights`` (R, N), whose reference is the weighted mean of the resampled
    questions."""
    calibrator = calibration_method(method)
    if not calibrator.per_split or weights is None:
        q = debiased(group, method, LABELS).sort_index()
        return q.to_numpy().argmax(axis=1) == 0
    naive = group[group["probe"] == NAIVE].set_index("question_id").sort_index()
    p_raw = naive[[f"p_{label}" for label in LABELS]].to_numpy()
    return calibrator.q(p_raw, weights=weights).argmax(axis=-1) == 0


def _cell_statistic(seeds: Sequence[pd.DataFrame], methods: Sequence[str]):
    """The statistic of one cell for ``paired_bootstrap``: for each method and metric (``GAIN_METRICS`` order, then
    methods), the mean over seeds of ``metric(method) - metric(naive)`` under question weights ``w``:
    ``accuracy = sum_i w_i [said_i == gold_i] / sum_i w_i``, ``F1 = 2 TP / (2 TP + FP + FN)`` with weighted counts."""
    golds = []
    for group in seeds:
        naive = group[group["probe"] == NAIVE].set_index("question_id").sort_index()
        golds.append(naive["label"].to_numpy() == "yes")
    fixed = [{m: _said_yes(g, m) for m in [NAIVE, *methods] if not calibration_method(m).per_split} for g in seeds]

    def metrics(w: np.ndarray, gold: np.ndarray, said: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tp = (w * (gold & said)).sum(axis=1)
        fp = (w * (~gold & said)).sum(axis=1)
        fn = (w * (gold & ~said)).sum(axis=1)
        accuracy = (w * (gold == said)).sum(axis=1) / w.sum(axis=1)
        return accuracy, f1_from_counts(tp, fp, fn)

    def statistic(weights: Sequence[np.ndarray]) -> np.ndarray:
        (w,) = weights
        gains = np.zeros((len(w), len(GAIN_METRICS), len(methods)))
        for group, gold, said in zip(seeds, golds, fixed, strict=True):
            base = metrics(w, gold, said[NAIVE])
            for j, method in enumerate(methods):
                value = metrics(
                    w, gold, _said_yes(group, method, w) if calibration_method(method).per_split else said[method]
                )
                for k in range(len(GAIN_METRICS)):
                    gains[:, k, j] += (value[k] - base[k]) / len(seeds)
        return gains.reshape(len(w), -1)

    return statistic


def gain_table(
    scores: pd.DataFrame,
    methods: Sequence[str] = STUDY_METHODS,
    *,
    resamples: int,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """One row per cell, method and metric (accuracy, F1): ``gain`` = the mean over seeds of the method's metric
    minus naive's, its paired percentile bootstrap interval ``low``..``high`` at ``level`` (the questions of the cell
    resampled, the same resample for every seed and method; batch calibration's reference recomputed on each
    resample), ``verdict`` (yes: the interval lies above 0, no: below, inconclusive: it spans 0), ``seeds`` and
    ``n`` (questions). Seed-to-seed spread is not in the interval: ``study_table`` has each seed's gain."""
    methods = [m for m in methods if m != NAIVE]
    rows = []
    for (yes_rate, evidence), cell in _groups(scores, CELL):
        seeds = [group for _, group in _groups(cell, ["seed"])]
        ids = [np.sort(g.loc[g["probe"] == NAIVE, "question_id"].to_numpy()) for g in seeds]
        if any(not np.array_equal(ids[0], i) for i in ids[1:]):
            raise ValueError(f"cell yes_rate={yes_rate}, level={evidence!r}: the seeds answer different questions")
        intervals = paired_bootstrap(_cell_statistic(seeds, methods), [len(ids[0])], seed, resamples, level)
        for k, metric in enumerate(GAIN_METRICS):
            for j, method in enumerate(methods):
                interval = intervals[k * len(methods) + j]
                rows.append(
                    {
                        "yes_rate": yes_rate, "level": evidence, "method": method, "metric": metric,
                        "gain": interval.estimate, "low": interval.low, "high": interval.high,
                        "verdict": verdict(interval), "seeds": len(seeds), "n": len(ids[0]),
                    }
                )  # fmt: skip
    return pd.DataFrame(rows)


def confidence_gain_table(
    scores: pd.DataFrame, methods: Sequence[str] = STUDY_METHODS, edges: Sequence[float] = EDGES, min_count: int = 20
) -> pd.DataFrame:
    """Accuracy of naive and of each method by bin of naive confidence (``analysis.bins.confidence_bins``: ``gain =
    accuracy - naive_accuracy`` per bin), one set of bins per cell, the seeds' questions pooled (each seed's answers
    counted once)."""
    methods = [m for m in methods if m != NAIVE]
    frames = []
    for (yes_rate, evidence), cell in _groups(scores, CELL):
        naive, qs, gold = [], {m: [] for m in methods}, []
        for _, group in _groups(cell, ["seed"]):
            p = debiased(group, NAIVE, LABELS).sort_index()
            naive.append(p.to_numpy())
            truth = group[group["probe"] == NAIVE].set_index("question_id")["label"].loc[p.index]
            gold.append(np.array([LABELS.index(y) for y in truth]))
            for m in methods:
                qs[m].append(debiased(group, m, LABELS).loc[p.index].to_numpy())
        table = confidence_bins(
            np.concatenate(naive), {m: np.concatenate(v) for m, v in qs.items()}, np.concatenate(gold), edges, min_count
        )
        frames.append(table.assign(yes_rate=yes_rate, level=evidence))
    out = pd.concat(frames, ignore_index=True)
    return out[["yes_rate", "level", *[c for c in out.columns if c not in CELL]]]


def _points(x: float) -> str:
    return f"{100 * x:+.1f}"


def _cells(rows: pd.DataFrame) -> str:
    """`` (yes_rate/level: 0.95/hard, ...)`` naming the cells of ``rows``; empty when there are none."""
    return (
        f" (yes_rate/level: {', '.join(f'{r.yes_rate:g}/{r.level}' for r in rows.itertuples())})" if len(rows) else ""
    )


def study_findings(
    table: pd.DataFrame, gain: pd.DataFrame, confidence: pd.DataFrame, levels: Sequence[str] | None = None
) -> list[str]:
    """The sentences of "When does debiasing help?", computed from the three tables (no conclusion is written in
    advance): whether the injected prior shows in naive's yes-ratio, per method in which cells the accuracy gain's
    interval lies above 0, below 0 or spans it, how the gain moves from the weakest to the strongest prior at each
    evidence level, the largest and smallest gain, and the gain in the lowest and highest naive-confidence bins that
    hold questions (pooled over the grid, each bin's gain weighted by its questions).
    ``levels`` orders the evidence levels (easiest first); by default their order in ``gain``."""
    levels = list(levels or dict.fromkeys(gain["level"]))
    rates = sorted(gain["yes_rate"].unique())
    low_rate, high_rate = rates[0], rates[-1]
    out = []
    naive = table[table["method"] == NAIVE].groupby(CELL)["yes_ratio"].mean()
    moves = "; ".join(
        f"{lv}: {100 * naive[(low_rate, lv)]:.1f} % at yes_rate {low_rate:g}, {100 * naive[(high_rate, lv)]:.1f} % "
        f"at {high_rate:g}"
        for lv in levels
    )
    out.append(f"Naive yes-ratio (mean over seeds) from the weakest to the strongest injected prior: {moves}.")
    acc = gain[gain["metric"] == "accuracy"]
    for method in dict.fromkeys(acc["method"]):
        rows = acc[acc["method"] == method]
        helps, hurts = rows[rows["verdict"] == "yes"], rows[rows["verdict"] == "no"]
        by_cell = rows.set_index(["level", "yes_rate"])["gain"]
        trend = "; ".join(
            f"{lv} {_points(by_cell[(lv, low_rate)])} to {_points(by_cell[(lv, high_rate)])}" for lv in levels
        )
        out.append(
            f"Calibration with the {method} reference raises accuracy (95 % interval above 0) in {len(helps)} of "
            f"{len(rows)} cells{_cells(helps)}, lowers it in {len(hurts)}{_cells(hurts)}, and is inconclusive in "
            f"{len(rows) - len(helps) - len(hurts)}. Accuracy gain in points from yes_rate {low_rate:g} to "
            f"{high_rate:g}: {trend}."
        )
    best, worst = acc.loc[acc["gain"].idxmax()], acc.loc[acc["gain"].idxmin()]
    for word, row in (("largest", best), ("smallest", worst)):
        out.append(
            f"The {word} accuracy gain is {_points(row.gain)} points [{_points(row.low)}, {_points(row.high)}] "
            f"({row.method} reference, yes_rate {row.yes_rate:g}, level {row.level})."
        )
    bins = confidence[(confidence["method"] != NAIVE) & (confidence["n"] > 0)]
    if bins["lo"].nunique() > 1:
        first, last = bins["lo"].min(), bins["lo"].max()  # the lowest and highest bins that hold questions
        parts = []
        for method in dict.fromkeys(bins["method"]):
            b = bins[bins["method"] == method]
            edge = {}
            for name, lo in (("low", first), ("high", last)):
                sel = b[b["lo"] == lo]
                n = int(sel["n"].sum())
                edge[name] = (float((sel["gain"] * sel["n"]).sum() / n) if n else float("nan"), n)
            parts.append(
                f"{method} {_points(edge['low'][0])} (n = {edge['low'][1]}) vs {_points(edge['high'][0])} "
                f"(n = {edge['high'][1]})"
            )
        label = bins.loc[bins["lo"] == first, "bin"].iloc[0], bins.loc[bins["lo"] == last, "bin"].iloc[0]
        out.append(
            f"By naive confidence, pooled over the grid: accuracy gain in points in the lowest bin ({label[0]}) vs "
            f"the highest ({label[1]}): {'; '.join(parts)}."
        )
    return out


def study_tables(
    paths: Sequence[str],
    methods: Sequence[str] = STUDY_METHODS,
    *,
    resamples: int,
    seed: int = 0,
    edges: Sequence[float] = EDGES,
    min_count: int = 20,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``study_table``, ``gain_table`` and ``confidence_gain_table`` of the score CSVs at ``paths`` (one per model,
    as rule study_scores writes them), concatenated; levels keep their order in the files."""
    scores = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    order = list(dict.fromkeys(scores["level"]))
    scores["level"] = pd.Categorical(scores["level"], categories=order, ordered=True)
    tables = (
        study_table(scores, methods),
        gain_table(scores, methods, resamples=resamples, seed=seed),
        confidence_gain_table(scores, methods, edges, min_count),
    )
    for table in tables:
        table["level"] = table["level"].astype(str)
    return tables
