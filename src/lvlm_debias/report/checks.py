"""The checks of the paper's claims (``config/paper_numbers.yaml``) on this run's per-question outputs.

Each check computes one clearly stated quantity (a difference of F1, of CHAIR_s, of attention shares, a trend) from
the per-question tables the rules write (label probabilities, answers by generation, per-caption CHAIR, per-question
attention, per-question sweep distributions), its **paired bootstrap 95 % interval** over questions
(``metrics.bootstrap``: the questions of each split resampled, the same resample for both sides of a difference; for
CHAIR the captions, for attention the sampled questions or images), and the verdict: "yes" when the interval lies on
the paper's side of no effect, "no" when it lies on the other side, "inconclusive" when it spans it.

Why here and not as interval columns of the analysis tables: every claim is a *difference between rows* of those
tables (a method against naive, one confidence bin against another, the best decoding setting against the default),
and a paired interval of a difference needs both rows' questions in one resample; the per-question tables already
exist (or are small to add), the seed is the config's, and changing how a verdict is read reruns the report, not a
model.

The method the paper names is compared, not the best of several: VDD is VDD-Both (the official run scripts'
``--use_dd --use_dd_unk``), the calibration claim covers the text-only references the paper recommends (None, Unk,
Both; their ΔF1 averaged), the image-based claim Noise, Zero and One (averaged). Other methods are shown beside it,
never in the verdict. Where a check reads a *selected* best (the decoding sweep's best configuration), it says so:
selected on the same questions, the gain is an optimistic estimate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lvlm_debias.analysis.calibration import answers, debiased
from lvlm_debias.benchmarks import benchmark, of_family
from lvlm_debias.calibration import CALIBRATION_METHODS
from lvlm_debias.inputs.noise import stable_seed
from lvlm_debias.metrics.bootstrap import Interval, f1_from_counts, paired_bootstrap, verdict, weighted_mean

TEXT_REFERENCES = ("none", "unk", "both")
IMAGE_REFERENCES = ("noise", "zero", "one")
NAIVE = "naive"
#: the VDD variant of the official run scripts (``--use_dd --use_dd_unk``): the one the VDD claims compare
VDD = "vdd-both"
VDD_METHODS = ("vdd-none", "vdd-unk", "vdd-both")
#: the generation setting the VDD claims read (sampling at the sweep's default, as VCD's Table 1 does)
SETTING = "default"


@dataclass(frozen=True)
class Bootstrap:
    """How the checks' intervals are drawn: ``resamples`` resamples at ``level``, each claim seeded from ``seed``
    (the config's ``seed`` and ``report.bootstrap_resamples``) and its id, so a rerun gives the same intervals."""

    seed: int
    resamples: int
    level: float = 0.95

    def interval(self, claim: str, statistic, sizes: Sequence[int]) -> Interval | list[Interval]:
        return paired_bootstrap(
            statistic, sizes, stable_seed(self.seed, "bootstrap", claim), self.resamples, self.level
        )


@dataclass(frozen=True)
class Verdict:
    """What this run shows for a claim: the ``quantity`` (in words, with its unit), its ``interval`` (in that unit;
    None for a deterministic measurement), ``details`` (the numbers beside it: other methods, the parts), the
    ``verdict`` (yes / no / inconclusive) and a ``note`` on how it is read (the rule that makes it one verdict, a
    selection, why there is no interval)."""

    quantity: str
    interval: Interval | None
    verdict: str
    details: str = ""
    note: str = ""
    unit: str = " points"
    signed: bool = True
    value: str = ""  # the estimate in words, for a measurement without an interval

    def _number(self, x: float) -> str:
        return f"{x:+.1f}" if self.signed else f"{x:.1f}"

    @property
    def estimate(self) -> str:
        if self.interval is None:
            return self.value
        return self._number(self.interval.estimate) + self.unit

    @property
    def range(self) -> str:
        """The interval as "[low, high]", or why there is none."""
        if self.interval is None:
            return "none (deterministic)"
        return f"[{self._number(self.interval.low)}, {self._number(self.interval.high)}]"

    @property
    def ours(self) -> str:
        """This run in words: the quantity, its estimate and interval, then the details and the note."""
        text = f"{self.quantity}: {self.estimate}"
        if self.interval is not None:
            text += f" (95 % CI {self.range}, paired bootstrap, {self.interval.resamples} resamples)"
        parts = [text, self.details, self.note]
        return "; ".join(p for p in parts if p)


def _first(outputs: Mapping[str, Path], family: str, kind: str) -> str | None:
    """The first benchmark of ``family`` with a ``<benchmark>/<split>/<kind>`` output."""
    for key in outputs:
        parts = key.split("/")
        if len(parts) == 3 and parts[2] == kind and of_family(parts[0], family):
            return parts[0]
    return None


def _per_split(outputs: Mapping[str, Path], name: str, kind: str) -> dict[str, pd.DataFrame]:
    """``<name>/<split>/<kind>`` tables by split, in output order."""
    out = {}
    for key, path in outputs.items():
        parts = key.split("/")
        if len(parts) == 3 and parts[0] == name and parts[2] == kind:
            out[parts[1]] = pd.read_csv(path)
    return out


def _read(outputs: Mapping[str, Path], key: str) -> pd.DataFrame | None:
    return pd.read_csv(outputs[key]) if key in outputs else None


def _pope_counts(label: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Per question (N, 3): its TP, FP and FN with "yes" positive; an answer that is neither label is wrong whatever
    the gold label (``benchmarks.metrics``: a false negative on a yes question, a false positive on a no question)."""
    gold_yes, said_yes = label == "yes", prediction == "yes"
    return np.stack([gold_yes & said_yes, ~gold_yes & (prediction != "no"), gold_yes & ~said_yes], axis=1).astype(float)


def _f1(weights: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """F1 per resample and column: ``counts`` (N, M, 3) per question and method -> (R, M)."""
    n, m, _ = counts.shape
    summed = (weights @ counts.reshape(n, m * 3)).reshape(-1, m, 3)
    return f1_from_counts(summed[..., 0], summed[..., 1], summed[..., 2])


def _methods_in(scores: Mapping[str, pd.DataFrame], methods: Sequence[str]) -> list[str]:
    """The ``methods`` whose probes every split's label probabilities hold."""
    present = set.intersection(*(set(t["probe"]) for t in scores.values())) if scores else set()
    return [m for m in methods if set(CALIBRATION_METHODS[m].probes) <= present]


def _split_f1_diffs(counts: Sequence[np.ndarray]):
    """The statistic "F1 of each column 1.. minus column 0, averaged over splits" of per-split (N_s, M, 3) counts."""

    def statistic(weights):
        return np.mean([(f1 := _f1(w, c))[:, 1:] - f1[:, :1] for w, c in zip(weights, counts, strict=True)], axis=0)

    return statistic


def _with_mean(statistic):
    """``statistic`` (R, k) with the mean of its k columns in front: (R, 1 + k)."""

    def both(weights):
        values = statistic(weights)
        return np.column_stack([values.mean(axis=1), values])

    return both


def _list(names: Sequence[str], intervals: Sequence[Interval], unit: str = "") -> str:
    return ", ".join(
        f"{n} {i.estimate:+.1f}{unit} [{i.low:+.1f}, {i.high:+.1f}]" for n, i in zip(names, intervals, strict=True)
    )


def text_refs_improve(outputs: Mapping[str, Path], boot: Bootstrap) -> Verdict | None:
    """ΔF1 = F1(method) - F1(naive) per split, averaged over the splits, for each of None, Unk and Both; the verdict
    reads their mean (one quantity for the three references the paper recommends)."""
    name = _first(outputs, "pope", "label_probs")
    scores = _per_split(outputs, name, "label_probs") if name else {}
    methods = _methods_in(scores, TEXT_REFERENCES)
    if not methods:
        return None
    labels = list(benchmark(name).labels)
    counts = []
    for table in scores.values():
        per = [answers(table, m, labels) for m in (NAIVE, *methods)]
        gold = per[0]["label"].to_numpy()
        counts.append(np.stack([_pope_counts(gold, a["prediction"].loc[per[0].index].to_numpy()) for a in per], 1))
    intervals = [
        i.scaled(100)
        for i in boot.interval(
            "text_references_improve_pope", _with_mean(_split_f1_diffs(counts)), [len(c) for c in counts]
        )
    ]
    return Verdict(
        f"POPE ΔF1, text-only calibration - naive ({'/'.join(methods)} averaged; each over {len(scores)} splits)",
        intervals[0],
        verdict(intervals[0]),
        details=f"per method: {_list(methods, intervals[1:])}",
        note="the verdict reads the mean of the three methods' ΔF1",
    )


def _bin_members(confidence: np.ndarray, row: pd.Series, last_hi: float) -> np.ndarray:
    """The questions of one row's confidence bin, as ``analysis.bins.confidence_bins`` assigns them: ``lo <= conf <
    hi``, the last bin closed above, a first "<lo" bin below the first edge."""
    if str(row["bin"]).startswith("<"):
        return confidence < row["hi"]
    if row["hi"] >= last_hi:
        return confidence >= row["lo"]
    return (confidence >= row["lo"]) & (confidence < row["hi"])


def _bin_gains(outputs: Mapping[str, Path], methods: Sequence[str]):
    """(name, methods present, the lowest and highest bins with enough questions, per split (N_s, 2, 1 + M)):
    membership of those two bins and correctness of naive and each method, per question."""
    name = _first(outputs, "pope", "label_probs")
    bins = _read(outputs, f"{name}/confidence_bins") if name else None
    if bins is None:
        return None
    scores = _per_split(outputs, name, "label_probs")
    methods = _methods_in(scores, methods)
    enough = bins[bins["enough"]].drop_duplicates("bin")
    if not methods or len(enough) < 2:
        return None
    low, high = enough.loc[enough["lo"].idxmin()], enough.loc[enough["lo"].idxmax()]
    labels = list(benchmark(name).labels)
    last_hi = float(bins["hi"].max())
    data = []
    for table in scores.values():
        naive = debiased(table, NAIVE, labels)
        gold = table[table["probe"] == NAIVE].set_index("question_id")["label"].loc[naive.index].to_numpy()
        right = [np.asarray(naive.columns)[debiased(table, m, labels).loc[naive.index].to_numpy().argmax(1)] == gold
                 for m in (NAIVE, *methods)]  # fmt: skip
        confidence = naive.max(axis=1).to_numpy()
        members = np.stack([_bin_members(confidence, b, last_hi) for b in (low, high)], 1)  # (N, 2)
        data.append((members.astype(float), np.stack(right, 1).astype(float)))
    return name, methods, low, high, data


def _gains(weights: Sequence[np.ndarray], data) -> np.ndarray:
    """Accuracy gain over naive of each method in the two bins, pooled over splits: (R, 2, M). A bin a resample
    leaves empty (possible when ``calibration.min_bin_count`` is small) has gain 0 there, not 0/0."""
    num = den = 0
    for w, (members, right) in zip(weights, data, strict=True):
        gain = right[:, 1:] - right[:, :1]  # (N, M)
        n, m = gain.shape
        num = num + (w @ (members[:, :, None] * gain[:, None, :]).reshape(n, 2 * m)).reshape(-1, 2, m)
        den = den + (w @ members)[:, :, None]
    num, den = np.broadcast_arrays(num, den)
    return np.divide(num, den, out=np.zeros(num.shape), where=den > 0)


def gains_at_low_confidence(outputs: Mapping[str, Path], boot: Bootstrap) -> Verdict | None:
    """Gain over naive accuracy in the lowest confidence bin minus in the highest (bins with enough questions),
    per text-only reference; the verdict reads their mean."""
    found = _bin_gains(outputs, TEXT_REFERENCES)
    if found is None:
        return None
    _, methods, low, high, data = found

    def statistic(weights):
        gains = _gains(weights, data)
        return gains[:, 0] - gains[:, 1]

    intervals = [i.scaled(100) for i in boot.interval("gains_at_low_confidence", _with_mean(statistic),
                                                     [len(m) for m, _ in data])]  # fmt: skip
    gains = 100 * _gains([np.ones((1, len(m))) for m, _ in data], data)[0].mean(axis=1)
    return Verdict(
        f"gain over naive in the lowest confidence bin ({low['bin']}) minus in the highest ({high['bin']}), "
        f"{'/'.join(methods)} averaged",
        intervals[0],
        verdict(intervals[0]),
        details=f"mean gain {gains[0]:+.1f} points in {low['bin']}, {gains[1]:+.1f} in {high['bin']}; "
        f"per method: {_list(methods, intervals[1:])}",
        note="the verdict reads the mean over the methods",
    )


def image_refs_hurt_confident(outputs: Mapping[str, Path], boot: Bootstrap) -> Verdict | None:
    """Gain over naive accuracy in the most confident bin (with enough questions) of Noise, Zero and One; the
    verdict reads their mean (below 0: they hurt)."""
    found = _bin_gains(outputs, IMAGE_REFERENCES)
    if found is None:
        return None
    _, methods, _, high, data = found
    intervals = [i.scaled(100) for i in boot.interval("image_references_hurt_confident",
                                                     _with_mean(lambda w: _gains(w, data)[:, 1]),
                                                     [len(m) for m, _ in data])]  # fmt: skip
    return Verdict(
        f"gain over naive accuracy in the most confident bin ({high['bin']}), {'/'.join(methods)} averaged",
        intervals[0],
        verdict(intervals[0], direction=-1),
        details=f"per method: {_list(methods, intervals[1:])}",
        note="the verdict reads the mean over the methods (the paper: below 0)",
    )


def text_answerable_subsets(outputs: Mapping[str, Path], boot: Bootstrap) -> Verdict | None:
    """Per MMMU subset, gap = the better of the None and Unk inputs' own accuracy minus naive's; the verdict reads
    the largest gap over the subsets (at least 0: text alone matches or beats the image on some subset), recomputed
    in every resample of the questions of each subset."""
    name = _first(outputs, "mmmu", "label_probs")
    scores = _per_split(outputs, name, "label_probs") if name else {}
    probes = [p for p in ("none", "unk") if scores and all(p in set(t["probe"]) for t in scores.values())]
    if not probes:
        return None
    labels = list(benchmark(name).labels)
    columns = [f"p_{label}" for label in labels]
    strata, names = [], []
    for split, table in scores.items():
        naive = table[table["probe"] == NAIVE].set_index("question_id")
        right = []
        for probe in (NAIVE, *probes):
            rows = table[table["probe"] == probe].set_index("question_id").loc[naive.index]
            right.append(np.asarray(labels)[rows[columns].to_numpy().argmax(1)] == rows["label"].to_numpy())
        right = np.stack(right, 1).astype(float)
        for subset in dict.fromkeys(naive["subset"]):
            strata.append(right[(naive["subset"] == subset).to_numpy()])
            names.append(str(subset) if len(scores) == 1 else f"{split}/{subset}")

    def statistic(weights):
        gaps = np.column_stack([(a := weighted_mean(w, r))[:, 1:].max(axis=1) - a[:, 0]
                                for w, r in zip(weights, strata, strict=True)])  # fmt: skip
        return np.column_stack([gaps.max(axis=1), gaps])

    intervals = [i.scaled(100) for i in boot.interval("text_answerable_subsets", statistic, [len(s) for s in strata])]
    flagged = [n for n, i in zip(names, intervals[1:], strict=True) if i.estimate >= 0]
    return Verdict(
        f"MMMU: largest gap over {len(names)} subsets, best of {'/'.join(probes)} accuracy - naive accuracy",
        intervals[0],
        verdict(intervals[0], inclusive=True),
        details=f"text alone matches or beats the image on {len(flagged)}/{len(names)} subsets"
        f"{' (' + ', '.join(flagged) + ')' if flagged else ''}; per subset: {_list(names, intervals[1:])}",
        note="verdict yes when the interval of the largest gap lies at or above 0",
    )


def decoding_moves_f1(outputs: Mapping[str, Path], boot: Bootstrap) -> Verdict | None:
    """Expected POPE F1 at the sweep's best configuration minus at the default, averaged over splits (per question:
    the expected TP, FP and FN of one draw at each configuration)."""
    summary = _read(outputs, "decoding")
    name = _first(outputs, "pope", "sweep_questions")
    if summary is None or name is None or name not in set(summary["benchmark"]):
        return None
    row = summary[summary["benchmark"] == name].iloc[0]
    configs = [row["default_config"], row["best_overall_config"]]
    tables = _per_split(outputs, name, "sweep_questions")
    counts = []
    for table in tables.values():
        per = []
        for config in configs:
            rows = table[table["config"] == config].sort_values("question_id")
            yes = rows["label"].to_numpy() == "yes"
            p_yes, p_no, p_other = (rows[f"p_{k}"].to_numpy() for k in ("yes", "no", "other"))
            per.append(np.stack([yes * p_yes, ~yes * (p_yes + p_other), yes * (p_no + p_other)], 1))
        counts.append(np.stack(per, 1))
    n_configs = next(iter(tables.values()))["config"].nunique()
    interval = boot.interval("decoding_moves_pope_f1", _split_f1_diffs(counts), [len(c) for c in counts])[0].scaled(100)
    return Verdict(
        f"expected POPE F1 at the best configuration ({configs[1]}) - at the default ({configs[0]}), splits averaged",
        interval,
        verdict(interval),
        details=f"{100 * row['default']:.1f} → {100 * row['best_overall']:.1f}",
        note=f"the best is selected as the highest of {n_configs} configurations on these same questions: an "
        "optimistic estimate",
    )


def prior_answers(outputs: Mapping[str, Path], boot: Bootstrap) -> Verdict | None:
    """The most probable first answer without an image (None probe) of the probing questions; a deterministic
    measurement (the model's own probabilities for a few fixed questions): no interval."""
    table = _read(outputs, "prior_probing")
    top = None if table is None else table[(table["probe"] == "none") & (table["rank"] == 1)]
    if top is None or top.empty:
        return None
    best = top.loc[top["probability"].idxmax()]
    return Verdict(
        f"without an image, '{best['question']}' → '{best['answer']}'",
        None,
        "yes" if best["probability"] >= 0.5 else "no",
        value=f"p = {best['probability']:.2f}",
        note=f"a deterministic measurement on {_count(top['question'].nunique(), 'fixed question')} (no sampling, "
        "so no interval); yes when the top answer has p >= 0.5",
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _attention_questions(outputs: Mapping[str, Path], probe: str = NAIVE) -> pd.DataFrame | None:
    table = _read(outputs, "attention_questions")
    if table is None:
        return None
    rows = table[table["probe"] == probe]
    return None if rows.empty or not (rows.loc[rows["group"] == "image", "tokens"] > 0).any() else rows


def _layer_shares(rows: pd.DataFrame, layer: int) -> pd.DataFrame:
    """Per question (index question_id) the share of each group in ``layer``."""
    return rows[rows["layer"] == layer].pivot(index="question_id", columns="group", values="share")


def attention_text_dominates(outputs: Mapping[str, Path], boot: Bootstrap) -> Verdict | None:
    """The text share (system + question) of the naive answer position's attention in the last layer, mean over the
    sampled questions; the paper: most of it (above 50 %)."""
    rows = _attention_questions(outputs)
    if rows is None:
        return None
    last = int(rows["layer"].max())
    shares = _layer_shares(rows, last)
    text = (shares.drop(columns="image").sum(axis=1)).to_numpy()
    interval = boot.interval("attention_text_dominates", lambda w: weighted_mean(w[0], text), [len(text)]).scaled(100)
    tokens = rows[rows["layer"] == last].groupby("group")["tokens"].mean()
    return Verdict(
        f"naive, last layer ({last}): text (system + question) share of the answer position's attention",
        interval,
        verdict(interval, null=50.0),
        details=f"image {100 * shares['image'].mean():.1f} %; image tokens are {tokens['image']:.0f} of "
        f"{tokens.sum():.0f} prompt tokens; {len(text)} questions",
        note="yes when the interval lies above 50 %",
        unit=" %",
        signed=False,
    )


def attention_image_falls_with_depth(outputs: Mapping[str, Path], boot: Bootstrap) -> Verdict | None:
    """The image share of the naive answer position's attention in the first layer minus in the last, mean over the
    sampled questions (above 0: it falls with depth)."""
    rows = _attention_questions(outputs)
    if rows is None or rows["layer"].nunique() < 2:
        return None
    first, last = int(rows["layer"].min()), int(rows["layer"].max())
    image = [_layer_shares(rows, layer)["image"] for layer in (first, last)]
    drop = (image[0] - image[1].loc[image[0].index]).to_numpy()
    interval = boot.interval("attention_image_falls_with_depth", lambda w: weighted_mean(w[0], drop), [len(drop)])
    interval = interval.scaled(100)
    return Verdict(
        f"naive: image share in layer {first} - in layer {last}",
        interval,
        verdict(interval),
        details=f"{100 * image[0].mean():.1f} % in layer {first}, {100 * image[1].mean():.1f} % in layer {last}; "
        f"{len(drop)} questions",
        note="above 0: the image share falls with depth",
    )


def generation_slope_sums(samples: pd.DataFrame) -> np.ndarray:
    """Per sample (rows in sample order), the sums that a pooled least-squares line needs of its image shares s_t
    over its steps t: (T_i, sum t, sum t^2, sum s, sum t s) -> (N, 5)."""
    image = samples[samples["group"] == "image"]
    t, s = image["step"].to_numpy(float), image["share"].to_numpy(float)
    parts = pd.DataFrame({"sample": image["sample"].to_numpy(), "n": 1.0, "t": t, "tt": t * t, "s": s, "ts": t * s})
    return parts.groupby("sample", sort=True)[["n", "t", "tt", "s", "ts"]].sum().to_numpy()


def pooled_slope(weights: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """The least-squares slope of share on step over every (sample, step) observation, sample i counted w_i times:

        slope = (S_ts - S_t S_s / N) / (S_tt - S_t^2 / N),  S_x = sum_i w_i sum_{t of i} x,  N = sum_i w_i T_i

    (= the per-step mean shares' least-squares line weighted by the samples at each step); 0 where every observation
    has the same step."""
    n, t, tt, s, ts = (weights @ sums).T
    spread = tt - t * t / n
    return np.divide(ts - t * s / n, spread, out=np.zeros_like(spread), where=spread > 1e-12)


def attention_image_falls_in_generation(outputs: Mapping[str, Path], boot: Bootstrap) -> Verdict | None:
    """The least-squares trend of the image share per generated token (pooled over the described images, each step
    weighted by the images still generating); below 0: it falls as tokens are generated."""
    samples = _read(outputs, "attention_generation_samples")
    if samples is None or samples["step"].nunique() < 2:
        return None
    sums = generation_slope_sums(samples)
    interval = boot.interval("attention_image_falls_in_generation", lambda w: pooled_slope(w[0], sums), [len(sums)])
    interval = interval.scaled(100)
    image = samples[samples["group"] == "image"].groupby("step")["share"].agg(["mean", "size"])
    first, last = image.index[0], image.index[-1]
    return Verdict(
        "describing the image: least-squares trend of the image share",
        interval,
        verdict(interval, direction=-1),
        details=f"{100 * image.loc[first, 'mean']:.1f} % at step {first} ({image.loc[first, 'size']} images), "
        f"{100 * image.loc[last, 'mean']:.1f} % at step {last} ({image.loc[last, 'size']} still generating)",
        note="below 0: the image share falls as tokens are generated",
        unit=" points per token",
    )


def _contrastive(outputs: Mapping[str, Path]) -> tuple[str, str, dict[str, pd.DataFrame]] | None:
    """The POPE-family benchmark answered by generation, the setting read (``SETTING``, else the first), and its
    answers per split at that setting."""
    found: dict[str, dict[str, pd.DataFrame]] = {}
    for key, path in outputs.items():
        parts = key.split("/")
        if len(parts) == 4 and parts[0] == "contrastive" and of_family(parts[1], "pope"):
            found.setdefault(parts[1], {}).setdefault(parts[2], []).append(pd.read_csv(path))
    if not found:
        return None
    name, by_split = next(iter(found.items()))
    tables = {split: pd.concat(parts, ignore_index=True) for split, parts in by_split.items()}
    settings = list(dict.fromkeys(s for t in tables.values() for s in t["setting"]))
    setting = SETTING if SETTING in settings else settings[0]
    return name, setting, {split: t[t["setting"] == setting] for split, t in tables.items()}


def _compared(methods: Sequence[str]) -> list[str]:
    """vdd-both first, then the other contrastive methods present (shown beside it, not in the verdict)."""
    return [VDD, *[m for m in ("vdd-none", "vdd-unk", "vcd") if m in methods]]


def vdd_improves_pope(outputs: Mapping[str, Path], boot: Bootstrap) -> Verdict | None:
    """POPE F1 of VDD-Both minus naive, both answered by generation at the default setting, per split and averaged
    over splits; the other contrasts beside it."""
    found = _contrastive(outputs)
    if found is None:
        return None
    name, setting, tables = found
    methods = set.intersection(*(set(t["method"]) for t in tables.values()))
    if NAIVE not in methods or VDD not in methods:
        return None
    compared = _compared(methods)
    counts = []
    for table in tables.values():
        by = {m: t.set_index("question_id") for m, t in table.groupby("method")}
        ids = by[NAIVE].index
        gold = by[NAIVE]["label"].to_numpy()
        counts.append(
            np.stack([_pope_counts(gold, by[m]["prediction"].loc[ids].to_numpy()) for m in (NAIVE, *compared)], 1)
        )
    intervals = [
        i.scaled(100) for i in boot.interval("vdd_improves_pope", _split_f1_diffs(counts), [len(c) for c in counts])
    ]
    config = next(iter(tables.values()))["config"].iloc[0]
    return Verdict(
        f"POPE F1 by generation, {VDD} - naive ({setting} setting, {config}; splits averaged)",
        intervals[0],
        verdict(intervals[0]),
        details=f"beside it: {_list(compared[1:], intervals[1:])}" if len(compared) > 1 else "",
        note="VDD is VDD-Both, as in the official run scripts (--use_dd --use_dd_unk)",
    )


def vdd_reduces_chair(outputs: Mapping[str, Path], boot: Bootstrap) -> Verdict | None:
    """CHAIR_s (captions with a hallucinated object) of VDD-Both minus naive at the default setting, paired by image;
    below 0: VDD hallucinates less."""
    table = _read(outputs, "chair_captions")
    if table is None:
        return None
    settings = list(dict.fromkeys(table["setting"]))
    setting = SETTING if SETTING in settings else settings[0]
    rows = table[table["setting"] == setting]
    by = {m: t.set_index("question_id") for m, t in rows.groupby("method")}
    if NAIVE not in by or VDD not in by:
        return None
    compared = _compared(list(by))
    ids = by[NAIVE].index
    flags = np.stack([(by[m]["hallucinated"].loc[ids] > 0).to_numpy(float) for m in (NAIVE, *compared)], 1)

    def statistic(weights):
        shares = weighted_mean(weights[0], flags)
        return shares[:, 1:] - shares[:, :1]

    intervals = [i.scaled(100) for i in boot.interval("vdd_reduces_hallucination", statistic, [len(flags)])]
    return Verdict(
        f"CHAIR_s, {VDD} - naive ({setting} setting; {len(ids)} captions)",
        intervals[0],
        verdict(intervals[0], direction=-1),
        details=f"naive {100 * flags[:, 0].mean():.1f} %, {VDD} {100 * flags[:, 1].mean():.1f} %"
        + (f"; beside it: {_list(compared[1:], intervals[1:])}" if len(compared) > 1 else ""),
        note="VDD is VDD-Both, as in the official run scripts; below 0: fewer captions hallucinate",
    )


Check = Callable[[Mapping[str, Path], Bootstrap], Verdict | None]

#: claim id -> (the report block it belongs to, the check on this run's outputs)
CHECKS: dict[str, tuple[str, Check]] = {
    "prior_answers_without_image": ("prior", prior_answers),
    "attention_text_dominates": ("attention", attention_text_dominates),
    "attention_image_falls_with_depth": ("attention", attention_image_falls_with_depth),
    "attention_image_falls_in_generation": ("attention", attention_image_falls_in_generation),
    "text_references_improve_pope": ("pope/calibration", text_refs_improve),
    "gains_at_low_confidence": ("pope/confidence_bins", gains_at_low_confidence),
    "image_references_hurt_confident": ("pope/confidence_bins", image_refs_hurt_confident),
    "text_answerable_subsets": ("benchmark_bias", text_answerable_subsets),
    "decoding_moves_pope_f1": ("decoding", decoding_moves_f1),
    "vdd_improves_pope": ("contrastive", vdd_improves_pope),
    "vdd_reduces_hallucination": ("chair", vdd_reduces_chair),
}
