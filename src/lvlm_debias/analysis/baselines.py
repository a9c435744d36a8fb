"""The first-token method table: every classification method of a yes/no benchmark beside the null baselines it has
to beat, exact from the logit cache and the label probabilities (no generation, no seeds), the yes-ratio always shown
and every number with a paired bootstrap interval over the split's questions.

A 2025 re-examination of contrastive decoding (arXiv 2504.10020) found that most POPE gains of VCD-like methods come
from a shift towards "yes" and from the plausibility cut alone. So each method stands beside:

- **greedy**: the naive top label (argmax of the label probabilities, as the calibration tables read them);
- **sampling**: one first token sampled at temperature ``T`` from the naive distribution (no cut, no contrast);
- **cut-only**: the same after the plausibility cut at ``beta`` (keep tokens with ``p >= beta · max p``), alpha 0;
- **yes-shift** (one per method): the output-layer threshold that matches the method's yes-ratio ``r``: the
  ``k = round(r · N)`` questions with the largest naive margin ``log p_yes - log p_no`` answer "yes", the rest "no"
  (the threshold is matched on the whole split, then held fixed under resampling).

The methods: the contrastive first step of each of ``contrasts`` at (``alpha``, ``beta``) sampled at ``T``
(``c = (1 + alpha) l - alpha l_ref`` over the survivors of the cut, :func:`scoring.official.warped_log_probs`),
each calibration method of ``calibrations`` (``calibration.CALIBRATION_METHODS``: ``q ∝ p / p_ref``, argmax), and,
where the split was also answered by generation (rule contrastive_answers), every decoding method at every
generation setting, named ``<method> [<setting>]`` (kind ``generation``: the parsed answer of one seeded decoding,
an answer neither yes nor no counting as "other"), each beside a yes-shift null matched to its own yes-ratio: the
only rows M3ID, ICD and OPERA have. A
sampled row's metrics are those of one draw per question in expectation: ``D_i`` is question i's distribution over
(yes, no, other) and ``accuracy = Σ_i w_i D_i[gold_i] / Σ_i w_i``, ``yes_ratio = Σ_i w_i D_i[yes] / Σ_i w_i``,
``F1 = 2 TP / (2 TP + FP + FN)`` with ``TP = Σ_i w_i D_i[yes] [gold_i = yes]``, ``FP = Σ_i w_i D_i[yes]
[gold_i = no]``, ``FN = Σ_i w_i (1 - D_i[yes]) [gold_i = yes]``; a deterministic row has one-hot ``D_i``. With every
weight ``w_i = 1`` these are the split's numbers; the bootstrap (``metrics.bootstrap.paired_bootstrap``) draws the
weights, the same for every row, so each difference (a method minus its yes-shift null, minus cut-only, minus greedy)
is paired. A per-split calibration (batch: ``p_ref`` the split's mean naive distribution) recomputes ``p_ref`` on
every resample.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lvlm_debias.analysis.calibration import LABELS, debiased, probe_matrix
from lvlm_debias.calibration import calibration_method
from lvlm_debias.decoding.methods import stored_contrasts
from lvlm_debias.metrics.bootstrap import f1_from_counts, paired_bootstrap, verdict
from lvlm_debias.scoring.official import warped_log_probs
from lvlm_debias.scoring.store import REFERENCE_INPUTS, LogitStore
from lvlm_debias.tables import write_csv

log = logging.getLogger(__name__)

#: the contrastive first steps the table can derive (references the logit store holds), with their references
CONTRASTS = stored_contrasts(REFERENCE_INPUTS)
#: the metrics of every row, each with its interval
METRICS = ("accuracy", "f1", "yes_ratio")
#: the metrics each method is compared on, against each null
COMPARED = ("accuracy", "f1")
_COMPARED_AT = [METRICS.index(m) for m in COMPARED]
#: the nulls a method is compared with, and the greedy baseline
NULLS = ("yes_shift", "cut_only", "greedy")
YES, NO, OTHER = 0, 1, 2
#: the kind of a null-baseline row ("null" alone would read back from CSV as missing)
NULL = "null baseline"
#: the kinds of the rows that are methods (each compared with its nulls)
METHOD_KINDS = ("contrast", "calibration", "generation")

#: a row's per-question distribution over (yes, no, other): fixed (N, 3), or given resample weights (R, N) -> (R, N, 3)
Dist = np.ndarray | Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Row:
    """One row of the table: its ``method`` name, ``kind`` (baseline, null baseline, contrast or calibration), the
    method a yes-shift null is matched to (``matches``) and its per-question distribution ``dist``."""

    method: str
    kind: str
    dist: Dist
    matches: str = ""


def _one_hot(said_yes: np.ndarray) -> np.ndarray:
    """(…, N) booleans -> (…, N, 3) one-hot over (yes, no, other)."""
    said_yes = np.asarray(said_yes, dtype=bool)
    out = np.zeros((*said_yes.shape, 3))
    out[..., YES] = said_yes
    out[..., NO] = ~said_yes
    return out


def sampled_dist(
    store: LogitStore, temperature: float, beta: float | None = None, ref: np.ndarray | None = None, alpha: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """``(D, exact)``: per question the (yes, no, other) distribution of one first token sampled at ``temperature``
    from the stored naive logits, plain (``beta`` None: ``softmax(l / T)`` over the whole vocabulary, through the
    stored ``log_z``) or after the plausibility cut at ``beta`` and the contrast ``(1 + alpha) l - alpha ref``
    (``ref`` the reference logits on the same ids; None with ``alpha`` 0: the cut alone); ``exact`` whether the
    stored tokens determine it (as :func:`scoring.official.warped_log_probs` says)."""
    logits = store["naive_logits"]
    if beta is None:
        logp, exact = warped_log_probs(logits, store.log_z("naive", temperature), temperature, 0)
    else:
        complete = logits.shape[1] >= int(store["vocab_size"])
        ref = np.zeros_like(logits) if ref is None else ref
        logp, exact = warped_log_probs(logits, None, temperature, 0, ref, alpha, beta, complete)
    probs = np.exp(logp)
    labels = np.asarray(store["naive_label"])[:, : probs.shape[1]]
    dist = np.zeros((len(probs), 3))
    dist[:, YES] = np.where(labels == YES, probs, 0.0).sum(axis=1)
    dist[:, NO] = np.where(labels == NO, probs, 0.0).sum(axis=1)
    dist[:, OTHER] = np.clip(1.0 - dist[:, YES] - dist[:, NO], 0.0, 1.0)
    return dist, exact


def yes_shift(margin: np.ndarray, yes_ratio: float) -> np.ndarray:
    """The yes-shift null matched to ``yes_ratio``: True for the ``k = round(yes_ratio · N)`` questions with the
    largest ``margin`` (ties in question order), False for the rest."""
    margin = np.asarray(margin, dtype=np.float64)
    k = int(round(float(yes_ratio) * len(margin)))
    order = np.argsort(-margin, kind="stable")
    said = np.zeros(len(margin), dtype=bool)
    said[order[:k]] = True
    return said


def _generated_dists(generated: pd.DataFrame, ids: np.ndarray) -> list[Row]:
    """One ``generation`` row per (setting, method) of a split's generated answers (columns ``question_id``,
    ``setting``, ``method``, ``prediction``), one-hot over (yes, no, other) in the order of ``ids``; a question of
    the split without an answer fails, naming the method and the count."""
    rows = []
    for (setting, method), answers in generated.groupby(["setting", "method"], sort=False):
        prediction = answers.set_index("question_id")["prediction"].reindex(ids)
        missing = int(prediction.isna().sum())
        if missing:
            raise ValueError(
                f"{method} [{setting}] has no generated answer for {missing} of the split's {len(ids)} questions: "
                "rerun rule contrastive_answers for the split"
            )
        dist = np.zeros((len(ids), 3))
        dist[:, YES] = prediction.eq(LABELS[YES]).to_numpy()
        dist[:, NO] = prediction.eq(LABELS[NO]).to_numpy()
        dist[:, OTHER] = 1.0 - dist[:, YES] - dist[:, NO]
        rows.append(Row(f"{method} [{setting}]", "generation", dist))
    return rows


def _calibration_dist(scores: pd.DataFrame, method: str, ids: np.ndarray) -> Dist:
    calibrator = calibration_method(method)
    if not calibrator.per_split:
        q = debiased(scores, method, LABELS).loc[ids].to_numpy()
        return _one_hot(q.argmax(axis=1) == YES)
    p_raw = probe_matrix(scores, "naive", LABELS).loc[ids].to_numpy()

    def dist(weights: np.ndarray) -> np.ndarray:
        return _one_hot(calibrator.q(p_raw, weights=weights).argmax(axis=-1) == YES)

    return dist


def _at(dist: Dist, weights: np.ndarray) -> np.ndarray:
    """``dist`` under ``weights`` (R, N): (R, N, 3)."""
    return dist(weights) if callable(dist) else np.broadcast_to(dist, (len(weights), *dist.shape))


def _metrics(dist: np.ndarray, weights: np.ndarray, gold_yes: np.ndarray) -> np.ndarray:
    """(R, 3): accuracy, F1, yes-ratio of (R, N, 3) distributions under weights (R, N) (module docstring)."""
    total = weights.sum(axis=1)
    p_yes = dist[..., YES]
    correct = np.where(gold_yes, p_yes, dist[..., NO])
    tp = (weights * p_yes * gold_yes).sum(axis=1)
    fp = (weights * p_yes * ~gold_yes).sum(axis=1)
    fn = (weights * (1.0 - p_yes) * gold_yes).sum(axis=1)
    accuracy = (weights * correct).sum(axis=1) / total
    return np.stack([accuracy, f1_from_counts(tp, fp, fn), (weights * p_yes).sum(axis=1) / total], axis=1)


def split_rows(
    scores: pd.DataFrame,
    store: LogitStore,
    calibrations: Sequence[str],
    contrasts: Sequence[str],
    alpha: float,
    beta: float,
    temperature: float,
    generated: pd.DataFrame | None = None,
) -> tuple[list[Row], np.ndarray, np.ndarray]:
    """``(rows, gold_yes, exact)`` of one split: the rows of the table (baselines, each method followed by its
    yes-shift null), whether each question's gold label is "yes", and whether the stored tokens determine every
    sampled row of a question. ``scores`` are the split's label probabilities (rule label_probs), ``store`` its
    logit cache, ``generated`` its answers by generation (rule contrastive_answers, every setting), if any."""
    unknown = [c for c in contrasts if c not in CONTRASTS]
    if unknown:
        raise ValueError(f"unknown first-token contrasts {unknown}; the logit store derives {list(CONTRASTS)}")
    naive = scores[scores["probe"] == "naive"].set_index("question_id").sort_index()
    ids = naive.index.to_numpy()
    store = store.select(list(ids))
    gold_yes = (naive["label"] == LABELS[YES]).to_numpy()
    p = probe_matrix(scores, "naive", LABELS).loc[ids].to_numpy()
    tiny = np.finfo(np.float64).tiny
    margin = np.log(np.maximum(p[:, YES], tiny)) - np.log(np.maximum(p[:, NO], tiny))
    sampling, exact_sampling = sampled_dist(store, temperature)
    cut, exact_cut = sampled_dist(store, temperature, beta)
    rows = [
        Row("greedy", "baseline", _one_hot(p.argmax(axis=1) == YES)),
        Row("sampling", "baseline", sampling),
        Row("cut-only", NULL, cut),
    ]
    exact = exact_sampling & exact_cut
    methods = []
    for name in contrasts:
        ref = np.mean([store[f"at_{r}"] for r in CONTRASTS[name]], axis=0)
        dist, exact_method = sampled_dist(store, temperature, beta, ref, alpha)
        exact &= exact_method
        methods.append(Row(name, "contrast", dist))
    methods += [Row(name, "calibration", _calibration_dist(scores, name, ids)) for name in calibrations]
    if generated is not None and len(generated):
        methods += _generated_dists(generated, ids)
    rows.append(Row("yes-shift", NULL, _one_hot(yes_shift(margin, _estimate(rows[1], gold_yes)[2])), "sampling"))
    for row in methods:
        rows.append(row)
        ratio = _estimate(row, gold_yes)[2]
        rows.append(Row("yes-shift", NULL, _one_hot(yes_shift(margin, ratio)), row.method))
    return rows, gold_yes, exact


def _estimate(row: Row, gold_yes: np.ndarray) -> np.ndarray:
    ones = np.ones((1, len(gold_yes)))
    return _metrics(_at(row.dist, ones), ones, gold_yes)[0]


def _partners(rows: Sequence[Row]) -> list[dict[str, int]]:
    """Per row, the index of each null it is compared with: its yes-shift null, cut-only and greedy (a baseline or
    null row is compared with none)."""
    index = {row.method: i for i, row in enumerate(rows) if row.kind != NULL or row.method == "cut-only"}
    shift = {row.matches: i for i, row in enumerate(rows) if row.method == "yes-shift"}
    return [
        {"yes_shift": shift[row.method], "cut_only": index["cut-only"], "greedy": index["greedy"]}
        if row.kind in METHOD_KINDS or row.method == "sampling"
        else {}
        for row in rows
    ]


def method_table(
    scores_by_split: Mapping[str, pd.DataFrame],
    stores_by_split: Mapping[str, LogitStore],
    calibrations: Sequence[str],
    contrasts: Sequence[str],
    alpha: float,
    beta: float,
    temperature: float,
    resamples: int,
    seed: int,
    generated_by_split: Mapping[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """One row per split and table row (module docstring), with the generated answers of the splits in
    ``generated_by_split`` (rule contrastive_answers) as rows too: ``split``, ``method``, ``kind``, ``matches`` (a
    yes-shift null's method), ``n``, ``exact`` (share of questions the stored tokens determine), each of
    ``METRICS`` with its 95 % interval (``<metric>_low``, ``<metric>_high``), and for a method (and sampling),
    against each of ``NULLS``, ``<metric>_vs_<null>`` (method minus null) with its interval and ``verdict`` ("yes":
    the method beats the null, "no": it is worse, "inconclusive": the interval spans 0) for each of
    ``COMPARED``."""
    out = []
    for split, scores in scores_by_split.items():
        generated = (generated_by_split or {}).get(split)
        rows, gold_yes, exact = split_rows(
            scores, stores_by_split[split], calibrations, contrasts, alpha, beta, temperature, generated
        )
        partners = _partners(rows)
        k = len(METRICS)

        def statistic(weights, rows=rows, partners=partners, gold_yes=gold_yes):
            (w,) = weights
            values = np.stack([_metrics(_at(row.dist, w), w, gold_yes) for row in rows], axis=1)  # (R, M, k)
            diffs = [
                values[:, i, _COMPARED_AT] - values[:, j, _COMPARED_AT]
                for i, nulls in enumerate(partners)
                for j in nulls.values()
            ]
            return np.concatenate([values.reshape(len(w), -1), *diffs], axis=1)

        intervals = paired_bootstrap(statistic, [len(gold_yes)], seed, resamples)
        at = len(rows) * k
        for i, (row, nulls) in enumerate(zip(rows, partners, strict=True)):
            record = {
                "split": split, "method": row.method, "kind": row.kind, "matches": row.matches,
                "n": len(gold_yes), "exact": float(exact.mean()),
            }  # fmt: skip
            for m, metric in enumerate(METRICS):
                interval = intervals[i * k + m]
                record |= {metric: interval.estimate, f"{metric}_low": interval.low, f"{metric}_high": interval.high}
            for null in nulls:
                for metric in COMPARED:
                    interval = intervals[at]
                    at += 1
                    record |= {
                        f"{metric}_vs_{null}": interval.estimate,
                        f"{metric}_vs_{null}_low": interval.low,
                        f"{metric}_vs_{null}_high": interval.high,
                        f"{metric}_vs_{null}_verdict": verdict(interval),
                    }
            out.append(record)
    return pd.DataFrame(out)


def _zero(rows: pd.DataFrame, column: str) -> bool:
    """Whether the difference ``column`` has the interval [0, 0] on every row (no resample tells them apart)."""
    return column + "_low" in rows and bool(((rows[column + "_low"] == 0) & (rows[column + "_high"] == 0)).all())


def method_findings(table: pd.DataFrame, metric: str = "f1") -> list[str]:
    """Per method (splits pooled by their verdicts): on how many splits it beats its yes-shift null and cut-only on
    ``metric`` (the interval wholly above 0), is worse, or is inconclusive; and its yes-ratio against greedy's."""
    out = []
    methods = table[table["kind"].isin(METHOD_KINDS)]
    greedy = table[table["method"] == "greedy"].set_index("split")["yes_ratio"]
    for method, rows in methods.groupby("method", sort=False):
        parts = []
        for null, label in (("yes_shift", "its yes-shift null"), ("cut_only", "cut-only")):
            counts = rows[f"{metric}_vs_{null}_verdict"].value_counts()
            parts.append(
                f"beats {label} on {counts.get('yes', 0)}/{len(rows)} splits "
                f"(worse on {counts.get('no', 0)}, inconclusive on {counts.get('inconclusive', 0)})"
            )
        shift = 100 * (rows.set_index("split")["yes_ratio"] - greedy.reindex(rows["split"]).to_numpy()).mean()
        note = ""
        if len(rows) and _zero(rows, f"{metric}_vs_yes_shift"):
            why = (
                "its answers are greedy's, the naive model's first-token argmax"
                if _zero(rows, f"{metric}_vs_greedy")
                else "one p_ref for every question only moves the threshold on the naive yes-no margin"
                if set(rows["kind"]) == {"calibration"}
                else "it orders the questions as the naive yes-no margin does"
            )
            note = f" It answers exactly as its yes-shift null on every split and resample: {why}."
        out.append(
            f"{method}: {metric} {'; '.join(parts)}; yes-ratio {shift:+.1f} points from greedy's on average.{note}"
        )
    return out


def baselines_from_files(
    label_probs: Mapping[str, str | Path],
    logits: Mapping[str, str | Path],
    settings: Mapping,
    seed: int,
    out: str | Path,
    generated: Mapping[str, Sequence[str | Path]] | None = None,
) -> pd.DataFrame:
    """:func:`method_table` of the splits whose label probabilities (rule label_probs) and logit cache are at
    ``label_probs[split]`` and ``logits[split]``, with the config's ``baselines`` ``settings`` (validated: every key
    filled by the schema), and the answers by generation at ``generated[split]`` (one file per generation setting,
    rule contrastive_answers) where a split has them, written as CSV to ``out``."""
    scores = {split: pd.read_csv(path) for split, path in label_probs.items()}
    stores = {split: LogitStore.load(logits[split]) for split in scores}
    answers = {
        split: pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)
        for split, paths in (generated or {}).items()
        if paths
    }
    table = method_table(
        scores,
        stores,
        settings["calibrations"],
        settings["contrasts"],
        settings["alpha"],
        settings["beta"],
        settings["temperature"],
        settings["bootstrap_resamples"],
        seed,
        answers,
    )
    write_csv(table, out)
    log.info("%d rows over %d splits -> %s", len(table), len(scores), out)
    return table


def _cell(row: pd.Series, column: str, verdict_of: str | None = None) -> str:
    """``x [low, high]`` in points (×100), with the verdict after a comparison; empty where the row has none."""
    if pd.isna(row.get(column)):
        return ""
    text = f"{100 * row[column]:.1f} [{100 * row[f'{column}_low']:.1f}, {100 * row[f'{column}_high']:.1f}]"
    return f"{text} {row[f'{column}_verdict']}" if verdict_of else text


def display_table(table: pd.DataFrame, metric: str = "f1") -> pd.DataFrame:
    """The method table as the report shows it: per split and row, the yes-ratio, accuracy and ``metric`` with their
    intervals, and ``metric`` minus the yes-shift null, cut-only and greedy with interval and verdict (in points)."""
    out = []
    for _, row in table.iterrows():
        name = row["method"] if row["method"] != "yes-shift" else f"yes-shift ({row['matches']})"
        out.append(
            {
                "split": row["split"], "method": name, "kind": row["kind"],
                "yes_ratio": _cell(row, "yes_ratio"), "accuracy": _cell(row, "accuracy"), metric: _cell(row, metric),
                **{
                    f"{metric} vs {null.replace('_', '-')}": _cell(row, f"{metric}_vs_{null}", null)
                    for null in NULLS
                },
            }
        )  # fmt: skip
    return pd.DataFrame(out)
