"""The official code's reading of label probabilities (``scoring.readings: [official]``), derived exactly from logits
stored at scoring time, beside our own reading (``clean``).

What the official code (LLaVA-Align at dfbecfa: ``eval/calibrate/llava_calibrate.py``, ``utils/metrics.py``,
``eval/eval_pope_calibrate.py``, ``eval/MME/convert_answer_to_mme_calibrate.py``, ``vcd_utils/vcd_sample.py``) does
for a yes/no question, as its POPE run scripts call it (``run_llava.sh``: temperature 1.0, ``cd_alpha 1``,
``cd_beta 0.2``, ``--use_dd --use_dd_unk``):

1. **naive** is the first step of ``generate(do_sample=True)`` with VDD-Both on: with ``l`` the image branch's logits
   and ``l_ref = (l_None + l_Unk) / 2`` (None: the image token dropped from the ids; Unk: replaced by ``<unk>``),
   ``c = (1 + alpha) l - alpha l_ref``, set to ``-inf`` where ``l < log(beta) + max l``; then the warpers
   (temperature ``T``; top-k and top-p are passed as None, which turns them off in ``generate``); ``scores[0]`` is
   that warped vector.
2. **the references** are plain sampling calls (no contrast): **None** with the prompt rebuilt *without* the
   ``<image>\\n`` text (the newline goes too), **Unk** with the image token replaced by ``<unk>``.
3. **reading** (``calibrate_label_dict``): ``softmax(scores)``, its top-10 tokens, each decoded, lower-cased and
   stripped; of a string seen twice only the first (highest) entry is kept, so ``p_y`` is the probability of the
   highest-ranked top-10 token that decodes to label ``y`` (0 when none does). Case and space variants are not summed.
4. **calibration** (``eval_pope_calibrate.py``, mode ``individual``, ``diagonal_W``): ``p = p_naive / sum``;
   POPE: ``p_ref = p_ref / sum + 1e-4``; MME: a single reference is *not* normalised (``p_ref + 1e-4``);
   Both: ``(p_None + p_Unk) / sum + 1e-4``; ``q = (p / p_ref) / sum``; prediction ``argmax q``. A row with no label
   mass gives NaN, and ``np.argmax`` of NaN is 0: such a row answers "yes".

Everything above is a function of a few logits per question, so the scoring pass stores them (:class:`LogitStore`:
the naive top-``K`` logits, the None and Unk logits *on the same token ids*, and the top-``K`` logits and
log-normalisers of each reference input) and :func:`official_label_probs` derives the reading for any ``T``,
``alpha``, ``beta`` without the model. It is exact when every token that survives the plausibility cut is among the
stored ``K`` (checked per question: ``exact`` is False otherwise, and counted) and ``read_top <= K``.

Not derivable, so not reproduced: MME's official naive answer is the generated text (a sample), read here as the
argmax of the read distribution; MMMU's official reading skips generation steps whose top token is a parenthesis
and reads a later step, which first-position logits cannot give, so MMMU has no official reading here.

Why ``clean`` stays our default: it reads the model's own distribution (raw logits, no sampler settings in the
probabilities), sums every spelling of a label among the top-100 tokens (the label's whole mass, not its first
variant's), changes only the image between Naive and None (the same prompt text), and calibrates the naive
distribution itself rather than one already contrasted by VDD, so a calibration gain is the calibration's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lvlm_debias.calibration import CALIBRATION_METHODS, REFERENCE_EPS
from lvlm_debias.decoding.base import check_alpha_beta
from lvlm_debias.decoding.methods import stored_contrasts
from lvlm_debias.scoring.convention import Convention
from lvlm_debias.scoring.store import REFERENCE_INPUTS, LogitStore
from lvlm_debias.settings import from_section

#: the readings a benchmark can be scored with: ours, and the official code's
READINGS = ("clean", "official")
#: the contrast of the official naive first step: none, or a contrastive decoding method whose references the logit
#: store holds (VDD-None, VDD-Unk, VDD-Both), with the reference(s) it averages
CONTRASTS: dict[str, tuple[str, ...]] = {"none": (), **stored_contrasts(REFERENCE_INPUTS)}
#: the calibration methods of the official reading (eval_pope_calibrate.py's naive, none, unk, none_unk)
OFFICIAL_METHODS: dict[str, tuple[str, ...]] = {
    name: CALIBRATION_METHODS[name].probes for name in ("naive", "none", "unk", "both")
}


@dataclass(frozen=True)
class OfficialSettings:
    """``scoring.official``: the run's sampling ``temperature``, the naive step's ``contrast`` (``CONTRASTS``) with
    ``alpha`` and ``beta``, and generate's ``top_k`` warper (0: off, as the run scripts' ``top_k=None``)."""

    temperature: float
    alpha: float
    beta: float
    contrast: str
    top_k: int

    def __post_init__(self) -> None:
        if not (isinstance(self.temperature, int | float) and self.temperature > 0):
            raise ValueError(f"scoring.official.temperature must be > 0, got {self.temperature!r}")
        check_alpha_beta(self.alpha, self.beta)
        if self.contrast not in CONTRASTS:
            raise ValueError(f"scoring.official.contrast must be one of {list(CONTRASTS)}, got {self.contrast!r}")
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 0:
            raise ValueError(f"scoring.official.top_k must be an integer >= 0 (0: off), got {self.top_k!r}")

    @classmethod
    def from_dict(cls, values: Mapping) -> OfficialSettings:
        return from_section(cls, dict(values), "scoring.official")


# --- the reading, from stored logits (pure) -----------------------------------------------------------------------


def _logsumexp(x: np.ndarray) -> np.ndarray:
    """``log sum exp`` over the last axis; ``-inf`` for a row of ``-inf``."""
    top = np.max(x, axis=-1, keepdims=True)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return (np.log(np.exp(x - safe).sum(axis=-1, keepdims=True)) + safe)[..., 0]


def warped_log_probs(
    logits: np.ndarray,
    log_z: np.ndarray | None,
    temperature: float,
    top_k: int,
    ref_logits: np.ndarray | None = None,
    alpha: float | None = None,
    beta: float | None = None,
    complete: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Log-probabilities of the stored tokens after the official first step, and whether each row is exact.

    ``logits`` (N, K) are a row's top-K logits, descending. Without ``ref_logits``: ``s = l / T`` and
    ``log p = s - log_z`` (``log_z = logsumexp(l / T)`` over the whole vocabulary, as stored). With ``ref_logits``
    (the reference's logits on the same ids; ``alpha`` and ``beta`` are then required):
    ``c = (1 + alpha) l - alpha l_ref``, ``-inf`` where ``l < log(beta) + max l``, ``s = c / T``, normalised over the
    survivors; exact only when every survivor is stored, i.e. the K-th stored logit is below the cut, or the stored
    tokens are the whole vocabulary (``complete``); the columns past the last survivor of any row (all ``-inf``) are
    left out of the result, whose columns stay those of the stored tokens, in order. ``top_k > 0`` keeps the
    ``top_k`` largest ``s`` and renormalises over them (generate's top-k warper); it needs ``top_k <= K``.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if top_k > logits.shape[1]:
        raise ValueError(f"top_k {top_k} exceeds the {logits.shape[1]} stored logits per question (scoring.store_top)")
    exact = np.ones(len(logits), dtype=bool)
    if ref_logits is None:
        if log_z is None:
            raise ValueError("a plain (uncontrasted) reading needs the stored log-normaliser log_z")
        s = logits / temperature
        log_norm = np.asarray(log_z, dtype=np.float64)
    else:
        check_alpha_beta(alpha, beta)
        cut = math.log(beta) + logits[:, :1]
        exact = (logits[:, -1] < cut[:, 0]) | complete
        # the survivors are a prefix of the descending stored logits: the columns past the longest one are all -inf
        width = max(int((logits >= cut).sum(axis=1).max(initial=1)), top_k, 1)
        logits, ref = logits[:, :width], np.asarray(ref_logits, np.float64)[:, :width]
        s = np.where(logits < cut, -np.inf, (1 + alpha) * logits - alpha * ref)
        s = s / temperature
        log_norm = _logsumexp(s)
    if top_k:
        kth = -np.sort(-s, axis=1)[:, top_k - 1 : top_k]
        s = np.where(s >= kth, s, -np.inf)
        log_norm = _logsumexp(s)
    with np.errstate(invalid="ignore"):
        return s - log_norm[:, None], exact


def read_labels(log_probs: np.ndarray, token_label: np.ndarray, n_labels: int, read_top: int) -> np.ndarray:
    """The official reading (``calibrate_label_dict`` then ``get_prob_from_logits``): among the ``read_top`` most
    probable stored tokens, ``p_y`` = the probability of the highest-ranked one whose label is ``y`` (the first
    variant kept, the others dropped), 0 when none is; rows (N, n_labels), not normalised. Fewer stored tokens than
    ``read_top`` are all read (exact when they are the whole vocabulary; the config check keeps ``store_top`` at
    ``read_top`` or more)."""
    log_probs = np.asarray(log_probs, dtype=np.float64)
    order = np.argsort(-log_probs, axis=1, kind="stable")[:, :read_top]
    probs = np.exp(np.take_along_axis(log_probs, order, axis=1))
    labels = np.take_along_axis(np.asarray(token_label), order, axis=1)
    out = np.zeros((len(log_probs), n_labels))
    for y in range(n_labels):
        out[:, y] = np.where(labels == y, probs, 0.0).max(axis=1, initial=0.0)
    return out


def official_label_probs(
    store: LogitStore, settings: OfficialSettings, n_labels: int, convention: Convention
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Raw label probabilities (N, n_labels) as the official code reads them, with each row's exactness: ``naive``
    (the contrasted first step of ``settings``) and each reference input of ``REFERENCE_INPUTS`` (plain sampling)."""
    t, k = settings.temperature, settings.top_k
    refs = CONTRASTS[settings.contrast]
    ref = np.mean([store[f"at_{r}"] for r in refs], axis=0) if refs else None
    complete = store["naive_logits"].shape[1] >= int(store["vocab_size"])
    logp, exact = warped_log_probs(
        store["naive_logits"], store.log_z("naive", t), t, k, ref, settings.alpha, settings.beta, complete
    )
    out = {"naive": (read_labels(logp, store["naive_label"], n_labels, convention.read_top), exact)}
    for name in REFERENCE_INPUTS:
        logp, exact = warped_log_probs(store[f"{name}_logits"], store.log_z(name, t), t, k)
        out[name] = (read_labels(logp, store[f"{name}_label"], n_labels, convention.read_top), exact)
    return out


def official_calibrate(
    p_naive: np.ndarray, p_refs: Sequence[np.ndarray], convention: Convention, eps: float = REFERENCE_EPS
) -> np.ndarray:
    """``q`` (N, L) of the official calibration (``diagonal_W``, ``individual``): ``p = p_naive / sum``; one
    reference: ``p_ref = p_ref / sum + eps`` (POPE) or ``p_ref + eps`` (MME, ``normalise_single`` False); two
    (Both): ``(p_1 + p_2) / sum + eps``; ``q = (p / p_ref) / sum``. No reference: ``q = p``. Rows without label mass
    are NaN, as there (:func:`official_predictions` sends them to the first label)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.asarray(p_naive, np.float64)
        p = p / p.sum(axis=1, keepdims=True)
        if not p_refs:
            return p
        raw = np.sum([np.asarray(r, np.float64) for r in p_refs], axis=0)
        if len(p_refs) > 1 or convention.normalise_single:
            raw = raw / raw.sum(axis=1, keepdims=True)
        q = p / (raw + eps)
        return q / q.sum(axis=1, keepdims=True)


def official_predictions(q: np.ndarray) -> np.ndarray:
    """``argmax q`` per row as numpy takes it: a row holding NaN answers the first NaN's index (0 for an all-NaN
    row: the first label, "yes")."""
    return np.argmax(np.asarray(q), axis=1)


def official_answers(
    store: LogitStore,
    questions: pd.DataFrame,
    settings: OfficialSettings,
    labels: Sequence[str],
    convention: Convention,
) -> dict[str, pd.DataFrame]:
    """Per official method (``OFFICIAL_METHODS``): the answers (index question_id; ``label``, ``subset``,
    ``image``, ``prediction``, ``exact``, ``no_mass``) of ``questions`` (a frame indexed by question_id with those
    columns), as the official code would give them, read by the benchmark's ``convention``."""
    store = store.select(list(questions.index))
    read = official_label_probs(store, settings, len(labels), convention)
    out = {}
    for method, refs in OFFICIAL_METHODS.items():
        q = official_calibrate(read["naive"][0], [read[r][0] for r in refs], convention)
        answered = questions[[c for c in ("label", "subset", "image", "pair") if c in questions.columns]].copy()
        answered["prediction"] = np.asarray(labels)[official_predictions(q)]
        answered["exact"] = np.logical_and.reduce([read["naive"][1], *(read[r][1] for r in refs)])
        answered["no_mass"] = np.isnan(q).any(axis=1)
        out[method] = answered
    return out
