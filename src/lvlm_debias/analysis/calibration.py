"""Post-hoc calibration of a benchmark's scored questions: debiased label distributions, answers, metric tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from lvlm_debias.analysis.bias import text_only_bias
from lvlm_debias.analysis.bins import EDGES, confidence_bins
from lvlm_debias.benchmarks import benchmark, metrics, subset_accuracy
from lvlm_debias.calibration import CALIBRATION_METHODS, calibration_method

LABELS = ("yes", "no")


def probes_for(methods: Sequence[str]) -> list[str]:
    """The probes to score for ``methods`` (``calibration.CALIBRATION_METHODS``): naive first, then each reference
    probe once, in method order."""
    unknown = [m for m in methods if m not in CALIBRATION_METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; known methods: {list(CALIBRATION_METHODS)}")
    return list(dict.fromkeys(["naive", *(p for m in methods for p in CALIBRATION_METHODS[m].probes)]))


def probe_matrix(scores: pd.DataFrame, probe: str, labels: Sequence[str] = LABELS) -> pd.DataFrame:
    """Raw label probabilities of one probe, indexed by question_id, one column per label."""
    rows = scores[scores["probe"] == probe].set_index("question_id")
    if rows.empty:
        raise ValueError(
            f"the scores hold no rows for probe {probe!r}; probes present: {sorted(scores['probe'].unique())}"
        )
    if rows.index.has_duplicates:
        raise ValueError(f"probe {probe!r} scores a question more than once")
    return rows[[f"p_{label}" for label in labels]]


def debiased(scores: pd.DataFrame, method: str, labels: Sequence[str] = LABELS) -> pd.DataFrame:
    """The label distribution q per question under ``method`` (columns = labels, index = question_id): the
    registered calibration method's ``q`` of the naive probabilities and those of its reference probes
    (``calibration.CALIBRATION_METHODS``).

    naive: ``q = normalise(p)``; none / unk: ``q = calibrate(normalise(p), normalise(p_ref) + eps)``;
    both: the same with ``p_ref`` the normalised sum of the raw None and Unk probabilities; batch: the same with
    ``p_ref = mean_i normalise(p_i) + eps`` over the questions of ``scores`` (one split).
    """
    calibrator = calibration_method(method)
    naive = probe_matrix(scores, "naive", labels)
    refs = [probe_matrix(scores, probe, labels).loc[naive.index].to_numpy() for probe in calibrator.probes]
    q = calibrator.q(naive.to_numpy(), refs)
    return pd.DataFrame(q, index=naive.index, columns=list(labels))


def predictions(q: pd.DataFrame) -> pd.Series:
    """argmax over labels per question (ties go to the first label)."""
    return pd.Series(np.asarray(q.columns)[q.to_numpy().argmax(axis=1)], index=q.index)


def answers(scores: pd.DataFrame, method: str, labels: Sequence[str] = LABELS) -> pd.DataFrame:
    """Per question (index question_id): ``label``, ``subset``, ``image``, ``pair`` (those the scores have),
    ``prediction`` = argmax of the method's q,
    and ``confidence`` = max of the Naive q (the paper's binning variable)."""
    naive = scores[scores["probe"] == "naive"].set_index("question_id")
    q = debiased(scores, method, labels)
    out = naive[[c for c in ("label", "subset", "image", "pair") if c in naive.columns]].copy()
    out["prediction"] = predictions(q).loc[out.index]
    out["confidence"] = debiased(scores, "naive", labels).max(axis=1).loc[out.index]
    return out


def calibration_table(
    scores_by_split: Mapping[str, pd.DataFrame], methods: Sequence[str], name: str = "pope"
) -> pd.DataFrame:
    """One row per split and method with benchmark ``name``'s metrics; ``naive`` comes first whether asked or not."""
    labels = list(benchmark(name).labels)
    methods = ["naive", *[m for m in methods if m != "naive"]]
    rows = []
    for split, scores in scores_by_split.items():
        for method in methods:
            answered = answers(scores, method, labels)
            rows.append({"split": split, "method": method, "n": len(answered), **metrics(name, answered)})
    return pd.DataFrame(rows)


def subset_table(scores_by_split: Mapping[str, pd.DataFrame], methods: Sequence[str], name: str) -> pd.DataFrame:
    """Accuracy per split, method and subset (MME subtask, MMMU subject)."""
    labels = list(benchmark(name).labels)
    frames = []
    for split, scores in scores_by_split.items():
        for method in ["naive", *[m for m in methods if m != "naive"]]:
            table = subset_accuracy(answers(scores, method, labels))
            frames.append(table.assign(split=split, method=method))
    return pd.concat(frames, ignore_index=True)[["split", "method", "subset", "n", "accuracy"]]


def probe_accuracy(scores: pd.DataFrame, probes: Sequence[str], labels: Sequence[str]) -> pd.DataFrame:
    """Accuracy of each probe's own answer (argmax of its raw label probabilities) per subset: the text-only
    accuracy of the benchmark-bias analysis. Columns ``subset``, ``probe``, ``n``, ``accuracy``."""
    frames = []
    for probe in probes:
        rows = scores[scores["probe"] == probe].set_index("question_id")
        if rows.empty:
            raise ValueError(f"the scores hold no rows for probe {probe!r}")
        p = rows[[f"p_{label}" for label in labels]].to_numpy()
        answered = pd.DataFrame(
            {"subset": rows["subset"], "label": rows["label"], "prediction": np.asarray(labels)[p.argmax(axis=1)]}
        )
        frames.append(subset_accuracy(answered).assign(probe=probe))
    return pd.concat(frames, ignore_index=True)[["subset", "probe", "n", "accuracy"]]


def calibration_findings(table: pd.DataFrame, headline: str = "f1") -> list[str]:
    """One sentence per reference method: on how many splits it raises the headline metric over naive, and (where
    there is a yes-ratio) how it moves it; the paper's finding is that calibration raises F1 and pulls the yes-ratio
    towards 50 %."""
    naive = table[table["method"] == "naive"].set_index("split")
    scale = 1.0 if headline == "score" else 100.0
    shown = {"f1": "F1", "score": "the MME score"}.get(headline, headline)
    out = []
    for method in [m for m in dict.fromkeys(table["method"]) if m != "naive"]:
        rows = table[table["method"] == method].set_index("split").loc[naive.index]
        gained = int((rows[headline] > naive[headline]).sum())
        delta = scale * (rows[headline] - naive[headline]).mean()
        sentence = (
            f"Calibration with the {method} reference raises {shown} over naive on {gained}/{len(rows)} "
            f"split{'s' if len(rows) != 1 else ''} (mean change {delta:+.1f} points)"
        )
        if headline != "accuracy" and "accuracy" in table.columns:
            better = int((rows["accuracy"] > naive["accuracy"]).sum())
            change = 100 * (rows["accuracy"] - naive["accuracy"]).mean()
            sentence += f", accuracy on {better}/{len(rows)} ({change:+.1f} points)"
        if "yes_ratio" in table.columns:
            closer = int(((rows["yes_ratio"] - 0.5).abs() < (naive["yes_ratio"] - 0.5).abs()).sum())
            sentence += f" and brings the yes-ratio closer to 50 % on {closer}/{len(rows)}"
        out.append(sentence + ".")
    return out


def method_bins(
    scores_by_split: Mapping[str, pd.DataFrame],
    methods: Sequence[str],
    name: str,
    edges: Sequence[float] = EDGES,
    min_count: int = 20,
) -> pd.DataFrame:
    """Accuracy of naive and each method by naive confidence bin, pooled over the splits of benchmark ``name``."""
    labels = list(benchmark(name).labels)
    naive, qs, gold = [], {m: [] for m in methods if m != "naive"}, []
    for scores in scores_by_split.values():
        p = debiased(scores, "naive", labels)
        naive.append(p.to_numpy())
        truth = scores[scores["probe"] == "naive"].set_index("question_id")["label"].loc[p.index]
        gold.append(np.array([labels.index(y) for y in truth]))
        for method in qs:
            qs[method].append(debiased(scores, method, labels).loc[p.index].to_numpy())
    return confidence_bins(
        np.concatenate(naive),
        {m: np.concatenate(v) for m, v in qs.items()},
        np.concatenate(gold),
        edges,
        min_count,
    )


def bias_table(scores: Mapping[str, pd.DataFrame], text_only: Sequence[str] = ("none", "unk")) -> pd.DataFrame:
    """Naive vs text-only accuracy per subset for each ``"benchmark/split"`` key of ``scores``."""
    frames = []
    for key, table in scores.items():
        name, split = key.split("/", 1)
        acc = probe_accuracy(table, ["naive", *text_only], list(benchmark(name).labels))
        frames.append(text_only_bias(acc, text_only=text_only).assign(benchmark=name, split=split))
    out = pd.concat(frames, ignore_index=True)
    first = ["benchmark", "split", "subset"]
    return out[first + [c for c in out.columns if c not in first]]


def paper_layout(table: pd.DataFrame, metrics_shown: Sequence[str]) -> pd.DataFrame:
    """The calibration table as the paper lays it out: one row per split and metric, one column per method."""
    shown = [m for m in metrics_shown if m in table.columns]
    long = table.melt(id_vars=["split", "method"], value_vars=shown, var_name="metric")
    wide = long.pivot_table(index=["split", "metric"], columns="method", values="value", sort=False)
    wide = wide.reindex(columns=list(dict.fromkeys(table["method"])))
    order = {m: i for i, m in enumerate(shown)}
    wide = wide.reset_index()
    wide["_split"] = wide["split"].map({s: i for i, s in enumerate(dict.fromkeys(table["split"]))})
    wide = wide.sort_values(["_split", "metric"], key=lambda c: c.map(order) if c.name == "metric" else c)
    wide.columns.name = None
    return wide.drop(columns="_split").reset_index(drop=True)
