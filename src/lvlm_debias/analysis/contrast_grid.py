"""VDD at the first answer token over a grid of ``alpha`` and ``beta``, derived exactly from the logit cache.

For a one-word answer the first token decides the answer, and its VDD distribution is a function of the naive
logits and the reference's logits on the same tokens (:mod:`lvlm_debias.scoring.store`):
``c = (1 + alpha) l - alpha l_ref``, ``-inf`` where ``l < log(beta) + max l``, sampled at temperature ``T`` (or taken
greedily). So every (method, alpha, beta) setting is post-processing of stored arrays, with no generation and no
seeds: the **expected** metric of one draw per question (the label mass of the surviving stored tokens, every
spelling of a label summed, the rest counted as a non-label answer), and the **greedy** metric (the label of the
top surviving token). ``alpha = 0`` is the plausibility cut alone, without contrast: the null baseline a contrastive
method has to beat. A question whose cut lets through more tokens than were stored is counted as not ``exact``.

Not covered: VCD at the first token, which would need the noised image's logits on the same tokens (a third image
pass per image); the generation rules compare VCD by decoding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from lvlm_debias.benchmarks import benchmark, expected_metrics
from lvlm_debias.scoring.official import CONTRASTS, warped_log_probs
from lvlm_debias.scoring.store import LogitStore

#: the contrastive decoding methods the grid covers (those whose references the logit store holds), and the reference
#: logits each averages
GRID_METHODS = {m: refs for m, refs in CONTRASTS.items() if refs}


def contrast_label_dist(
    store: LogitStore, method: str, alpha: float, beta: float, temperature: float, n_labels: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(expected, greedy, exact)``: per question the label distribution (N, n_labels + 1; last column the
    non-label mass) of one draw at ``temperature`` from the contrasted first step, the same for the greedy choice
    (one-hot), and whether the stored tokens determine it exactly."""
    if method not in GRID_METHODS:
        raise ValueError(f"unknown contrast method {method!r}; known: {list(GRID_METHODS)}")
    return _label_dist(store, _reference(store, method), alpha, beta, temperature, n_labels)


def _reference(store: LogitStore, method: str) -> np.ndarray:
    """The mean of the method's reference logits on the naive top tokens."""
    refs = [store[f"at_{r}"] for r in GRID_METHODS[method]]
    return refs[0] if len(refs) == 1 else np.mean(refs, axis=0)


def _label_dist(
    store: LogitStore, ref: np.ndarray, alpha: float, beta: float, temperature: float, n_labels: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    logits = store["naive_logits"]
    complete = logits.shape[1] >= int(store["vocab_size"])
    logp, exact = warped_log_probs(logits, None, temperature, 0, ref, alpha, beta, complete)
    probs = np.exp(logp)
    labels = np.asarray(store["naive_label"])[:, : probs.shape[1]]
    expected = np.zeros((len(probs), n_labels + 1))
    for y in range(n_labels):
        expected[:, y] = np.where(labels == y, probs, 0.0).sum(axis=1)
    expected[:, n_labels] = np.clip(1.0 - expected[:, :n_labels].sum(axis=1), 0.0, 1.0)
    top = np.take_along_axis(labels, np.argmax(logp, axis=1)[:, None], axis=1)[:, 0]
    greedy = np.zeros_like(expected)
    greedy[np.arange(len(top)), np.where(top >= 0, top, n_labels)] = 1.0
    return expected, greedy, exact


def contrast_grid_table(
    stores_by_split: Mapping[str, LogitStore],
    answers_by_split: Mapping[str, pd.DataFrame],
    name: str,
    methods: Sequence[str],
    alphas: Sequence[float],
    betas: Sequence[float],
    temperature: float,
) -> pd.DataFrame:
    """One row per split, method, alpha, beta and decoding (``expected`` at ``temperature``, ``greedy``) with the
    benchmark's expected metrics (:func:`lvlm_debias.analysis.sweep.expected_metrics`), the non-label share and the
    exact share. ``answers_by_split`` (index question_id; ``label``, ``subset``, ``image``) give the gold labels."""
    labels = list(benchmark(name).labels)
    rows = []
    for split, store in stores_by_split.items():
        answers = answers_by_split[split]
        store = store.select(list(answers.index))
        for method in methods:
            if method not in GRID_METHODS:
                raise ValueError(f"unknown contrast method {method!r}; known: {list(GRID_METHODS)}")
            ref = _reference(store, method)
            for alpha in alphas:
                for beta in betas:
                    expected, greedy, exact = _label_dist(store, ref, alpha, beta, temperature, len(labels))
                    for decoding, dist in (("expected", expected), ("greedy", greedy)):
                        rows.append(
                            {
                                "split": split,
                                "method": method,
                                "alpha": float(alpha),
                                "beta": float(beta),
                                "decoding": decoding,
                                "temperature": temperature if decoding == "expected" else 0.0,
                                **expected_metrics(name, dist, answers),
                                "other": float(dist[:, -1].mean()),
                                "exact": float(exact.mean()),
                            }
                        )
    return pd.DataFrame(rows)


def grid_findings(table: pd.DataFrame, headline: str) -> list[str]:
    """Per method (expected decoding, splits averaged): the best (alpha, beta) on these questions (a selection, so an
    optimistic estimate), the cut alone (alpha 0) at the same beta, and the range over the grid."""
    out = []
    expected = table[table["decoding"] == "expected"]
    scale = 1.0 if headline == "score" else 100.0
    for method, rows in expected.groupby("method", sort=False):
        mean = rows.groupby(["alpha", "beta"])[headline].mean()
        (alpha, beta), best = mean.idxmax(), mean.max()
        cut = mean.get((0.0, beta))
        text = (
            f"{method}: {headline} from {scale * mean.min():.1f} to {scale * best:.1f} over the grid; best at "
            f"alpha {alpha:g}, beta {beta:g} (selected on these questions)"
        )
        if cut is not None:
            text += f", where the cut alone (alpha 0) gives {scale * cut:.1f}"
        out.append(text + ".")
    return out
