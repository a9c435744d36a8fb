"""Visual Debias Decoding (VDD) and VCD: contrast the image branch's next-token logits with a reference branch's.

At each generation step, with ``l`` the logits given the image and ``l_ref`` the logits for the same prefix under
the reference input (VDD-None: image tokens removed; VDD-Unk: the image token replaced by ``<unk>``; VDD-Both: the
mean of the None and Unk logits; VCD: the image noised at diffusion step 500):

    contrast = (1 + alpha) * l - alpha * l_ref,   set to -inf where l < log(beta) + max(l)

then the usual temperature / top-k / top-p warpers act on ``contrast``. Each reference branch keeps its own KV cache
and advances one token per step, for the whole batch at once. :class:`ContrastiveDecoding` is the decoding method
(``decoding.methods.DECODING_METHODS`` holds one per set of references); its logits processor and reference branches
(``ContrastLogitsProcessor``, ``ReferenceBranch``, ``reference_inputs``) live in ``decoding.processors``, which it
imports only when it decodes, so that this module imports no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lvlm_debias.decoding.base import DecodingMethod, DecodingParameters, GenerationBatch, check_alpha_beta

if TYPE_CHECKING:  # annotations only: the method is read by jobs that load no model (decoding.processors runs it)
    import torch
    from transformers import LogitsProcessor

#: the reference inputs ``decoding.processors.reference_inputs`` builds
REFERENCES = ("none", "unk", "vcd-noise")


def contrast(logits: torch.Tensor, ref_logits: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    """``(1 + alpha) * logits - alpha * ref_logits``, set to ``-inf`` where ``logits < log(beta) + max(logits)``
    (the adaptive plausibility constraint, on the last axis). Shapes must match; ``alpha`` and ``beta`` are checked
    (:func:`~lvlm_debias.decoding.base.check_alpha_beta`)."""
    check_alpha_beta(alpha, beta)
    return unchecked_contrast(logits, ref_logits, alpha, beta)


def unchecked_contrast(logits: torch.Tensor, ref_logits: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    """:func:`contrast` without checking ``alpha`` and ``beta``, for a caller that checked them once (the logits
    processor, ``decoding.processors.ContrastLogitsProcessor``, at each step)."""
    if logits.shape != ref_logits.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and ref_logits {tuple(ref_logits.shape)} differ in shape")
    cutoff = math.log(beta) + logits.max(dim=-1, keepdim=True).values
    out = (1 + alpha) * logits - alpha * ref_logits
    return out.masked_fill(logits < cutoff, -math.inf)


@dataclass(frozen=True)
class ContrastiveDecoding(DecodingMethod):
    """VDD (references ``none``, ``unk`` or both) and VCD (``vcd-noise``): ``decoding.processors``'
    ``ContrastLogitsProcessor`` against the mean of the ``references``' branches, at the parameters' ``alpha`` and
    ``beta``. VCD needs the batch's images and noise seeds."""

    def __post_init__(self) -> None:
        unknown = [r for r in self.references if r not in REFERENCES]
        if not self.references or unknown:
            raise ValueError(f"a contrastive decoding method needs references among {list(REFERENCES)}, got "
                             f"{list(self.references)}")  # fmt: skip

    def logits_processors(self, batch: GenerationBatch, parameters: DecodingParameters) -> list[LogitsProcessor]:
        from lvlm_debias.decoding.processors import ContrastLogitsProcessor, ReferenceBranch, reference_inputs

        branches = [
            ReferenceBranch(batch.model, reference_inputs(batch.processor, batch.prompts, r, batch.images,
                                                          batch.noise_seeds))
            for r in self.references
        ]  # fmt: skip
        return [ContrastLogitsProcessor(branches, parameters.alpha, parameters.beta)]
