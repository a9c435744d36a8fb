"""M3ID (Favero et al., "Multi-Modal Hallucination Control by Visual Information Grounding", CVPR 2024,
arXiv 2403.14003): contrast the image branch with the image-free branch on log-probabilities, with a weight that grows
as the answer gets longer (the further from the image, the more the language prior takes over).

At the t-th generated token (t = 1 for the first), with ``l_c = log_softmax(l)`` the image branch's log-probabilities
and ``l_u`` the image-free branch's (None: image tokens removed) for the same prefix:

    s_t = l_c + ((1 - gamma_t) / gamma_t) (l_c - l_u),    gamma_t = exp(-lambda t)

then the usual temperature / top-k / top-p warpers act on ``s_t``. The paper's ``lambda`` is 0.02 (the config's
``generation.m3id_lambda``, whose default the schema holds): the weight is 0.020 at the first token, 0.22 at the
tenth, 1.7 at the fiftieth. So a one-word answer is nearly naive decoding's; M3ID acts on captions and long answers.
No plausibility cut. The image-free branch keeps its own KV cache (``decoding.vdd.ReferenceBranch``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from transformers import LogitsProcessor

from lvlm_debias.decoding.base import DecodingMethod, DecodingParameters, GenerationBatch
from lvlm_debias.decoding.vdd import ReferenceBranch, reference_inputs


def m3id_weight(step: int, lam: float) -> float:
    """``(1 - gamma_t) / gamma_t`` with ``gamma_t = exp(-lambda t)``, i.e. ``exp(lambda t) - 1``, at token ``step``
    (1 for the first generated token)."""
    return math.expm1(lam * step)


def m3id_scores(logits: torch.Tensor, ref_logits: torch.Tensor, step: int, lam: float) -> torch.Tensor:
    """``l_c + w_t (l_c - l_u)`` on log-probabilities (module docstring), ``w_t = m3id_weight(step, lam)``."""
    if logits.shape != ref_logits.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and ref_logits {tuple(ref_logits.shape)} differ in shape")
    conditioned = torch.log_softmax(logits.float(), dim=-1)
    unconditioned = torch.log_softmax(ref_logits.float(), dim=-1)
    return (conditioned + m3id_weight(step, lam) * (conditioned - unconditioned)).to(logits.dtype)


class M3IDLogitsProcessor(LogitsProcessor):
    """:func:`m3id_scores` of the image branch's scores against ``branch``'s logits for the same prefix, the step
    counted from the first call (t = 1); ``lam`` as ``DecodingParameters`` checked it. Put it before the warpers."""

    def __init__(self, branch: ReferenceBranch, lam: float) -> None:
        self.branch, self.lam, self.step = branch, lam, 0

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        new = input_ids[:, -1] if self.step else None
        self.step += 1
        ref = self.branch.next_logits(new).to(scores.device)
        return m3id_scores(scores, ref, self.step, self.lam)


@dataclass(frozen=True)
class M3ID(DecodingMethod):
    """M3ID against the image-free input (``references`` ("none",)), at the parameters' ``m3id_lambda``."""

    references: tuple[str, ...] = ("none",)

    def logits_processors(self, batch: GenerationBatch, parameters: DecodingParameters) -> list[LogitsProcessor]:
        (reference,) = self.references
        branch = ReferenceBranch(batch.model, reference_inputs(batch.processor, batch.prompts, reference))
        return [M3IDLogitsProcessor(branch, parameters.m3id_lambda)]
