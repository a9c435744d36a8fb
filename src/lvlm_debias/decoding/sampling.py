"""Decoding-configuration sweeps (temperature, top-k, top-p) derived from a stored first-position distribution.

Instead of rerunning ``model.generate`` once per configuration, the scoring pass stores, per question, the ids and
logits of the top-K tokens (sorted by descending logit) and, for each temperature T of the grid, the full-vocabulary
log-normaliser ``log_z[T] = logsumexp(logits / T)``. The probability that ``generate(do_sample=True, temperature=T,
top_k=k, top_p=p)`` picks each stored token at the first position then follows exactly (or within a stated bound)
from those numbers, for every configuration of the grid.

Semantics follow transformers' warpers, in the order ``generate`` applies them: ``TemperatureLogitsWarper``
(``l / T``), ``TopKLogitsWarper`` (keep every token whose scaled logit is ``>=`` the k-th largest, so ties at the k-th
value are all kept), ``TopPLogitsWarper`` (sort ascending, cumulative softmax, remove tokens whose cumulative
probability is ``<= 1 - p``, always keep the largest token), then softmax. The derivation assumes no other logits
processor is active at the first position (no repetition penalty, min-p, typical-p, ...).

Note: when ``top_k`` is not passed, ``generate`` uses the global default ``top_k=50``; pass ``top_k=0`` explicitly
(see :meth:`DecodingConfig.generate_kwargs`) to disable it, as ``top_k=0`` means here.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch
    from transformers import LogitsProcessorList

#: a stored set whose full-softmax mass is within this of 1 is taken to cover the vocabulary (float64 rounding).
TAIL_EPS = 1e-12

#: tolerance when checking that the stored mass ``sum_i exp(l_i / T - log_z)`` does not exceed 1.
_MASS_TOL = 1e-9


@dataclass(frozen=True)
class DecodingConfig:
    """One decoding configuration: temperature T, nucleus top-p, top-k (0 = disabled), or greedy (do_sample False)."""

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    do_sample: bool = True

    def __post_init__(self) -> None:
        t = self.temperature
        if isinstance(t, bool) or not isinstance(t, Real) or not (math.isfinite(t) and t > 0):
            raise ValueError(f"temperature must be a finite number > 0, got {t!r}")
        p = self.top_p
        if isinstance(p, bool) or not isinstance(p, Real) or not (0 < p <= 1):
            raise ValueError(f"top_p must be in (0, 1], got {p!r}")
        k = self.top_k
        if isinstance(k, bool) or not isinstance(k, Integral) or k < 0:
            raise ValueError(f"top_k must be an integer >= 0 (0 disables it), got {k!r}")
        if not isinstance(self.do_sample, bool | np.bool_):
            raise ValueError(f"do_sample must be a bool, got {self.do_sample!r}")
        object.__setattr__(self, "temperature", float(t))
        object.__setattr__(self, "top_p", float(p))
        object.__setattr__(self, "top_k", int(k))
        object.__setattr__(self, "do_sample", bool(self.do_sample))

    @property
    def name(self) -> str:
        """A short label, e.g. ``"T=0.2,p=0.9,k=50"``; ``"greedy"`` when ``do_sample`` is False."""
        if not self.do_sample:
            return "greedy"
        return f"T={self.temperature:g},p={self.top_p:g},k={self.top_k}"

    @classmethod
    def from_name(cls, name: str) -> DecodingConfig:
        """The configuration :attr:`name` describes ("greedy" or "T=0.2,p=0.9,k=50"); inverse of ``name``."""
        if name == "greedy":
            return cls(do_sample=False)
        parts = dict(part.split("=", 1) for part in name.split(",") if "=" in part)
        if sorted(parts) != ["T", "k", "p"]:
            raise ValueError(f"decoding configuration {name!r} is neither 'greedy' nor of the form 'T=1,p=0.9,k=0'")
        return cls(temperature=float(parts["T"]), top_p=float(parts["p"]), top_k=int(parts["k"]))

    def generate_kwargs(self) -> dict[str, float | int | bool]:
        """Keyword arguments for ``model.generate`` with these semantics (``top_k=0`` passed explicitly, see module)."""
        if not self.do_sample:
            return {"do_sample": False}
        return {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k}


def stored_topk(
    logits: torch.Tensor, k: int, temperatures: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the scoring pass stores: top-k' ids and logits and the full log-normaliser per temperature.

    From logits (N, V): ``top_ids`` (N, k') int64 and ``top_logits`` (N, k') float64 sorted descending, with
    ``k' = min(k, V)``; ``log_z[:, j] = logsumexp_v(logits[:, v] / temperatures[j])`` (N, len(temperatures)) over the
    whole vocabulary, computed in float64. Ties keep ``torch.topk``'s order.
    """
    import torch  # here, not at the top: the model-free jobs that read this module need no torch

    if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
        raise ValueError(
            f"logits must be a 2-D tensor (N, V), got {type(logits).__name__} {getattr(logits, 'shape', '')}"
        )
    if isinstance(k, bool) or not isinstance(k, Integral) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    temps = list(temperatures)
    if not temps:
        raise ValueError("temperatures must not be empty")
    for t in temps:
        DecodingConfig(temperature=t)  # validates, naming the bad value
    x = logits.detach().to(device="cpu", dtype=torch.float64)
    values, ids = torch.topk(x, min(int(k), x.shape[-1]), dim=-1, largest=True, sorted=True)
    log_z = torch.stack([torch.logsumexp(x / float(t), dim=-1) for t in temps], dim=1)
    return ids.to(torch.int64).numpy(), values.numpy(), log_z.numpy()


def _check_stored(top_logits: np.ndarray, log_z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    top_logits = np.asarray(top_logits, dtype=np.float64)
    log_z = np.asarray(log_z, dtype=np.float64)
    if top_logits.ndim != 2 or top_logits.shape[1] < 1:
        raise ValueError(f"top_logits must have shape (N, k') with k' >= 1, got {top_logits.shape}")
    if log_z.shape != (top_logits.shape[0],):
        raise ValueError(f"log_z must have shape (N,) = ({top_logits.shape[0]},), got {log_z.shape}")
    if np.isnan(top_logits).any() or np.isnan(log_z).any():
        raise ValueError("top_logits and log_z must not contain NaN")
    if not np.all(top_logits[:, :-1] >= top_logits[:, 1:]):
        raise ValueError("top_logits must be sorted by descending logit in every row")
    return top_logits, log_z


def sampling_distribution_with_bound(
    top_logits: np.ndarray, log_z: np.ndarray, config: DecodingConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(probs, tail_kept, error bound) in one pass; see :func:`sampling_distribution` and :func:`tail_error_bound`."""
    top_logits, log_z = _check_stored(top_logits, log_z)
    n, k = top_logits.shape
    if not config.do_sample:
        probs = np.zeros((n, k))
        probs[:, 0] = 1.0
        return probs, np.zeros(n), np.zeros(n)

    z = top_logits / config.temperature  # TemperatureLogitsWarper
    p = np.exp(z - log_z[:, None])  # full-softmax probabilities of the stored tokens
    stored = p.sum(axis=1)
    if np.any(stored > 1 + _MASS_TOL):
        worst = float(stored.max())
        raise ValueError(
            f"log_z does not match top_logits at temperature {config.temperature:g} (stored mass {worst:.6g} > 1); "
            "pass logsumexp(full logits / T) for this configuration's temperature"
        )
    tail = np.clip(1.0 - stored, 0.0, None)
    tail[tail <= TAIL_EPS] = 0.0
    p_min = p[:, -1]  # every tail token has probability <= p_min

    # TopKLogitsWarper: tail mass surviving it is tau_hat, known to lie in [tau_lo, tau_hi].
    keep = np.ones((n, k), dtype=bool)
    tau_hat, tau_lo, tau_hi = tail.copy(), tail.copy(), tail.copy()
    if config.top_k and config.top_k <= k:
        keep = z >= z[:, config.top_k - 1 : config.top_k]
        tied_tail = (z[:, config.top_k - 1] == z[:, -1]) & (tail > 0)  # unseen tokens may tie the k-th value
        tau_hat[:] = 0.0
        tau_lo[:] = 0.0
        tau_hi = np.where(tied_tail, tail, 0.0)
    elif config.top_k:  # top_k > k': the top_k - k' largest tail tokens survive, each <= p_min
        tau_hat = np.minimum(tail, (config.top_k - k) * p_min)
        tau_lo[:] = 0.0
        tau_hi = tau_hat.copy()
    pk = np.where(keep, p, 0.0)
    kept_stored = pk.sum(axis=1)

    if config.top_p >= 1.0:
        total = kept_stored + tau_hat
        bound = (tau_hi - tau_lo) / (kept_stored + tau_lo)
        return pk / total[:, None], tau_hat / total, bound

    # TopPLogitsWarper on the top-k survivors, renormalised; the tail sits at the bottom of the ascending sort.
    mass = kept_stored + tau_hat
    q = pk / mass[:, None]
    q_tail = tau_hat / mass
    cutoff = 1.0 - config.top_p
    ascending_cumsum = q_tail[:, None] + np.cumsum(q[:, ::-1], axis=1)[:, ::-1]
    remove = ascending_cumsum <= cutoff
    remove[:, 0] = False  # min_tokens_to_keep=1: the largest token always stays
    q = np.where(remove, 0.0, q)
    tail_survives = q_tail > cutoff  # then every stored token survives too
    kept_tail = np.where(tail_survives, q_tail - cutoff, 0.0)  # removed tail mass taken as 1 - p: see the bound
    total = q.sum(axis=1) + kept_tail
    # Unseen tokens may tie the smallest stored logit; the sort orders a tied group arbitrarily, so where the cutoff
    # may fall in the group, up to `tied` stored tokens trade places with unseen ones (same mass, other identity).
    q_min = p_min / mass
    tied = (z == z[:, -1:]).sum(axis=1)
    tie_risk = (tau_hat > 0) & (cutoff < q_tail + tied * q_min)
    uncertain_tau = tau_hi > tau_lo
    bound = np.where(uncertain_tau, 1.0, np.where(tie_risk, (tied + 1) * q_min / config.top_p, 0.0))
    return q / total[:, None], kept_tail / total, bound


def sampling_distribution(
    top_logits: np.ndarray, log_z: np.ndarray, config: DecodingConfig
) -> tuple[np.ndarray, np.ndarray]:
    """First-token sampling distribution under ``config``, from the stored top-k' logits and ``log_z``.

    ``top_logits`` (N, k') sorted descending; ``log_z`` (N,) = ``logsumexp(full logits / config.temperature)``.
    Returns ``probs`` (N, k'), the probability that ``generate`` picks each stored token, and ``tail_kept`` (N,), the
    probability that it picks a token outside the stored set; ``probs.sum(1) + tail_kept == 1``.

    With ``p_i = exp(l_i / T - log_z)`` the full-softmax probability of stored token i and ``t = 1 - sum_i p_i`` the
    tail mass (every tail token has logit ``<= l_min`` so it sits below the stored tokens in the ascending sort):

    - top-k, ``top_k <= k'``: keep stored ``i`` with ``l_i / T >= l_(top_k) / T``; the tail is removed (exact, unless
      the k-th stored logit ties the smallest stored one and unseen tokens tie it too, see :func:`tail_error_bound`).
    - top-k, ``top_k > k'``: all stored tokens survive, plus the ``top_k - k'`` largest tail tokens, whose mass is
      estimated by its upper bound ``min(t, (top_k - k') p_min)`` (exact when ``top_k >= V``).
    - top-p on the survivors renormalised to ``q``: stored ``i`` is removed iff ``q_tail + sum_{j >= i} q_j <= 1 - p``
      (the largest token always stays). If ``q_tail <= 1 - p`` the whole tail is removed (exact). Otherwise every
      stored token survives and the kept tail mass is ``q_tail - r`` with ``r`` the removed tail mass,
      ``1 - p - m < r <= 1 - p``, ``m`` the largest tail token's probability (``<= q_min``); ``r = 1 - p`` is used, so
      the kept tail is low by at most one tail token's probability (see :func:`tail_error_bound`).
    - softmax over the kept set: ``probs = q_kept / (sum q_kept + kept tail)``.

    Greedy (``do_sample`` False): all mass on index 0, the argmax. Tokens with equal scaled logits are
    interchangeable: ``generate`` sorts them in an arbitrary order, so which of a tied group top-p removes is arbitrary
    there (same mass, other identity). Comparisons are made in float64, whereas ``generate`` usually works in float32;
    cumulative sums within ~1e-7 of ``1 - p`` may then fall on the other side of the cutoff.
    """
    probs, tail_kept, _ = sampling_distribution_with_bound(top_logits, log_z, config)
    return probs, tail_kept


def tail_error_bound(top_logits: np.ndarray, log_z: np.ndarray, config: DecodingConfig) -> np.ndarray:
    """Per-question bound (N,) on the absolute error of every entry of :func:`sampling_distribution`'s output.

    With ``m = exp(l_min / T - log_z) / M`` (one unseen token's probability at most; ``M`` the mass kept by top-k),
    ``c`` the number of stored tokens tied at ``l_min`` and ``P`` the stored mass kept by top-k:

    - 0 where the derivation is exact: greedy; no unseen mass survives top-k; no top-p; or the top-p cutoff lies
      below the group of tokens tied at ``l_min``.
    - ``(c + 1) m / p`` with top-p, top-k disabled, where the cutoff may fall in that group (always so when part of
      the tail survives): the unknown removed tail mass (one token) plus tied stored and unseen tokens trading places
      (torch's sort orders ties arbitrarily; same mass, other identity).
    - the tail mass kept by top-k only known to lie in ``[lo, hi]`` (``top_k > k'``, or ``top_k == k'``/ties at the
      k-th logit, where unseen tokens may tie it): ``(hi - lo) / (P + lo)`` without top-p, 1 (no useful bound) with
      it. Store more tokens than the largest ``top_k`` of a grid to avoid this.

    Float rounding (about ``TAIL_EPS``) is not included.
    """
    return sampling_distribution_with_bound(top_logits, log_z, config)[2]


def pad_labels(token_labels: np.ndarray, width: int) -> np.ndarray:
    """``token_labels`` extended with -1 (no label) to at least ``width`` entries: a model's output can be wider than
    its tokenizer (LLaVA-1.5's 32064 logits for 32002 tokens)."""
    token_labels = np.asarray(token_labels)
    missing = width - token_labels.size
    return np.concatenate([token_labels, np.full(missing, -1, token_labels.dtype)]) if missing > 0 else token_labels


def label_distribution(
    probs: np.ndarray, tail_kept: np.ndarray, top_ids: np.ndarray, token_labels: np.ndarray, n_labels: int
) -> np.ndarray:
    """Label probabilities (N, n_labels + 1): ``out[i, y] = sum_{j: token_labels[top_ids[i, j]] = y} probs[i, j]``.

    ``token_labels`` (V,) maps a vocabulary id to its label index or -1; an id past its end spells no label (the
    embedding matrix's padding rows beyond the tokenizer, e.g. LLaVA-1.5's ids 32002-32063). The last column is the
    "other" mass: stored tokens with label -1 plus ``tail_kept``. Rows sum to ``probs.sum(1) + tail_kept``.
    """
    probs = np.asarray(probs, dtype=np.float64)
    tail_kept = np.asarray(tail_kept, dtype=np.float64)
    top_ids = np.asarray(top_ids)
    token_labels = np.asarray(token_labels)
    if isinstance(n_labels, bool) or not isinstance(n_labels, Integral) or n_labels < 1:
        raise ValueError(f"n_labels must be an integer >= 1, got {n_labels!r}")
    if probs.ndim != 2 or top_ids.shape != probs.shape:
        raise ValueError(f"top_ids must have the shape of probs {probs.shape}, got {top_ids.shape}")
    if tail_kept.shape != (probs.shape[0],):
        raise ValueError(f"tail_kept must have shape ({probs.shape[0]},), got {tail_kept.shape}")
    if token_labels.ndim != 1 or not np.issubdtype(token_labels.dtype, np.integer):
        raise ValueError(f"token_labels must be a 1-D integer array, got {token_labels.dtype} {token_labels.shape}")
    if token_labels.size and (token_labels.min() < -1 or token_labels.max() >= n_labels):
        raise ValueError(
            f"token_labels must lie in [-1, {n_labels - 1}], got [{token_labels.min()}, {token_labels.max()}]"
        )
    if top_ids.size and top_ids.min() < 0:
        raise ValueError(f"top_ids must be vocabulary ids >= 0, got {top_ids.min()}")
    labels = pad_labels(token_labels, int(top_ids.max()) + 1 if top_ids.size else 0)[top_ids]
    column = np.where(labels < 0, n_labels, labels)
    out = np.zeros((probs.shape[0], n_labels + 1))
    np.add.at(out, (np.arange(probs.shape[0])[:, None], column), probs)
    out[:, n_labels] += tail_kept
    return out


def _check_gold(label_dist: np.ndarray, gold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    label_dist = np.asarray(label_dist, dtype=np.float64)
    gold = np.asarray(gold)
    if label_dist.ndim != 2 or label_dist.shape[1] < 2:
        raise ValueError(f"label_dist must have shape (N, K + 1) with K >= 1, got {label_dist.shape}")
    if gold.shape != (label_dist.shape[0],) or not np.issubdtype(gold.dtype, np.integer):
        raise ValueError(
            f"gold must be an integer array of shape ({label_dist.shape[0]},), got {gold.dtype} {gold.shape}"
        )
    n_labels = label_dist.shape[1] - 1
    if gold.size and (gold.min() < 0 or gold.max() >= n_labels):
        raise ValueError(f"gold must lie in [0, {n_labels - 1}], got [{gold.min()}, {gold.max()}]")
    return label_dist, gold


def expected_confusion(label_dist: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Expected counts ``C[j, g] = E[#{i: pred_i = j, gold_i = g}] = sum_{i: gold_i = g} label_dist[i, j]``.

    Shape (K + 1, K) for ``label_dist`` (N, K + 1); row K is "other" (no label). Column sums are the gold counts.
    Metrics that are ratios of counts are first-order approximations of their expectation when computed from ``C``,
    e.g. ``F1_y ~ 2 C[y, y] / (C[y, :].sum() + C[:, y].sum())`` (``E[a / b] != E[a] / E[b]``); accuracy is exact.
    """
    label_dist, gold = _check_gold(label_dist, gold)
    n_labels = label_dist.shape[1] - 1
    confusion = np.zeros((n_labels + 1, n_labels))
    np.add.at(confusion.T, gold, label_dist)
    return confusion


def expected_accuracy(label_dist: np.ndarray, gold: np.ndarray) -> float:
    """Exact expected accuracy of one sample per question: ``mean_i label_dist[i, gold_i]``."""
    label_dist, gold = _check_gold(label_dist, gold)
    if gold.size == 0:
        raise ValueError("gold must not be empty")
    return float(label_dist[np.arange(gold.size), gold].mean())


def sample_tokens(probs: np.ndarray, tail_kept: np.ndarray, seed: int) -> np.ndarray:
    """One draw per question: the stored-token index j with probability ``probs[i, j]``, -1 (the tail) with
    probability ``tail_kept[i]``, using ``np.random.default_rng(seed)`` (one uniform per question, inverse CDF)."""
    probs = np.asarray(probs, dtype=np.float64)
    tail_kept = np.asarray(tail_kept, dtype=np.float64)
    if probs.ndim != 2 or tail_kept.shape != (probs.shape[0],):
        raise ValueError(f"probs must be (N, k') and tail_kept (N,), got {probs.shape} and {tail_kept.shape}")
    if np.any(probs < 0) or np.any(tail_kept < 0):
        raise ValueError("probs and tail_kept must be non-negative")
    cdf = np.cumsum(probs, axis=1)
    u = np.random.default_rng(seed).random(probs.shape[0]) * (cdf[:, -1] + tail_kept)
    index = (cdf <= u[:, None]).sum(axis=1)
    return np.where(index >= probs.shape[1], -1, index).astype(np.int64)


def config_grid(temperatures: Sequence[float], top_ps: Sequence[float], top_ks: Sequence[int]) -> list[DecodingConfig]:
    """Sampling configurations of the Cartesian product, temperature slowest and top-k fastest, in the given order."""
    return [DecodingConfig(t, p, k) for t, p, k in itertools.product(temperatures, top_ps, top_ks)]


def warpers(config: DecodingConfig) -> LogitsProcessorList:
    """transformers' own warpers for ``config``, in the order ``generate`` applies them."""
    from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    out = LogitsProcessorList()
    if config.temperature != 1.0:
        out.append(TemperatureLogitsWarper(config.temperature))
    if config.top_k:
        out.append(TopKLogitsWarper(config.top_k))
    if config.top_p < 1.0:
        out.append(TopPLogitsWarper(config.top_p))
    return out
