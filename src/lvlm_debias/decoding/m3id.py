"""M3ID (Favero et al., "Multi-Modal Hallucination Control by Visual Information Grounding", CVPR 2024,
arXiv 2403.14003): contrast the image branch with the image-free branch on log-probabilities, with a weight that grows
as the answer gets longer (the further from the image, the more the language prior takes over).

At the t-th generated token (t = 1 for the first), with ``l_c = log_softmax(l)`` the image branch's log-probabilities
and ``l_u`` the image-free branch's (None: image tokens removed) for the same prefix:

    s_t = l_c + ((1 - gamma_t) / gamma_t) (l_c - l_u),    gamma_t = exp(-lambda t)

then the usual temperature / top-k / top-p warpers act on ``s_t``. The paper's ``lambda`` is 0.02 (the config's
``generation.m3id_lambda``, whose default the schema holds): the weight is 0.020 at the first token, 0.22 at the
tenth, 1.7 at the fiftieth. So a one-word answer is nearly naive decoding's; M3ID acts on captions and long answers.
No plausibility cut. The image-free branch keeps its own KV cache (``decoding.processors.ReferenceBranch``, which
also holds the logits processor, ``M3IDLogitsProcessor``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lvlm_debias.decoding.base import DecodingMethod, DecodingParameters, GenerationBatch

if TYPE_CHECKING:  # annotations only: the method is read by jobs that load no model (decoding.processors runs it)
    import torch
    from transformers import LogitsProcessor


def m3id_weight(step: int, lam: float) -> float:
    """``(1 - gamma_t) / gamma_t`` with ``gamma_t = exp(-lambda t)``, i.e. ``exp(lambda t) - 1``, at token ``step``
    (1 for the first generated token)."""
    return math.expm1(lam * step)


def m3id_scores(logits: torch.Tensor, ref_logits: torch.Tensor, step: int, lam: float) -> torch.Tensor:
    """``l_c + w_t (l_c - l_u)`` on log-probabilities (module docstring), ``w_t = m3id_weight(step, lam)``."""
    if logits.shape != ref_logits.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and ref_logits {tuple(ref_logits.shape)} differ in shape")
    conditioned = logits.float().log_softmax(dim=-1)
    unconditioned = ref_logits.float().log_softmax(dim=-1)
    return (conditioned + m3id_weight(step, lam) * (conditioned - unconditioned)).to(logits.dtype)


@dataclass(frozen=True)
class M3ID(DecodingMethod):
    """M3ID against the image-free input (``references`` ("none",)), at the parameters' ``m3id_lambda``."""

    references: tuple[str, ...] = ("none",)

    def logits_processors(self, batch: GenerationBatch, parameters: DecodingParameters) -> list[LogitsProcessor]:
        from lvlm_debias.decoding.processors import M3IDLogitsProcessor, ReferenceBranch, reference_inputs

        (reference,) = self.references
        branch = ReferenceBranch(batch.model, reference_inputs(batch.processor, batch.prompts, reference))
        return [M3IDLogitsProcessor(branch, parameters.m3id_lambda)]
