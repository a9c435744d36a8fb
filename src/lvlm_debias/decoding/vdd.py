"""Visual Debias Decoding (VDD) and VCD: contrast the image branch's next-token logits with a reference branch's.

At each generation step, with ``l`` the logits given the image and ``l_ref`` the logits for the same prefix under
the reference input (VDD-None: image tokens removed; VDD-Unk: the image token replaced by ``<unk>``; VDD-Both: the
mean of the None and Unk logits; VCD: the image noised at diffusion step 500):

    contrast = (1 + alpha) * l - alpha * l_ref,   set to -inf where l < log(beta) + max(l)

then the usual temperature / top-k / top-p warpers act on ``contrast``. Each reference branch keeps its own KV cache
and advances one token per step, for the whole batch at once. :class:`ContrastiveDecoding` is the decoding method
(``decoding.methods.DECODING_METHODS`` holds one per set of references).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from PIL import Image
from transformers import LogitsProcessor, PreTrainedModel, ProcessorMixin

from lvlm_debias.decoding.base import DecodingMethod, DecodingParameters, GenerationBatch, check_alpha_beta
from lvlm_debias.inputs.probes import get_probe, probe_inputs
from lvlm_debias.models.families import family_of

#: the reference inputs :func:`reference_inputs` builds
REFERENCES = ("none", "unk", "vcd-noise")


def contrast(logits: torch.Tensor, ref_logits: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    """``(1 + alpha) * logits - alpha * ref_logits``, set to ``-inf`` where ``logits < log(beta) + max(logits)``
    (the adaptive plausibility constraint, on the last axis). Shapes must match; ``alpha`` and ``beta`` are checked
    (:func:`~lvlm_debias.decoding.base.check_alpha_beta`)."""
    check_alpha_beta(alpha, beta)
    return _contrast(logits, ref_logits, alpha, beta)


def _contrast(logits: torch.Tensor, ref_logits: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    """:func:`contrast` without checking ``alpha`` and ``beta`` (the processor checked them once)."""
    if logits.shape != ref_logits.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and ref_logits {tuple(ref_logits.shape)} differ in shape")
    cutoff = math.log(beta) + logits.max(dim=-1, keepdim=True).values
    out = (1 + alpha) * logits - alpha * ref_logits
    return out.masked_fill(logits < cutoff, -math.inf)


class ReferenceBranch:
    """One reference input for a batch, with its own KV cache: the first call runs the whole (left-padded) prompt,
    each later call the one token just generated."""

    def __init__(self, model: PreTrainedModel, inputs: dict[str, torch.Tensor]) -> None:
        self.model = model
        self.family = family_of(model)
        self.inputs = self.family.to_device(model, inputs)
        self.cache = None
        self.mask: torch.Tensor | None = None
        self.position: torch.Tensor | None = None
        self.cache_arg = self.family.cache_arg(model)

    @torch.inference_mode()
    def next_logits(self, new_tokens: torch.Tensor | None) -> torch.Tensor:
        """Logits (N, V) for the next position, after appending ``new_tokens`` (N,) unless this is the first call."""
        if self.cache is None:
            mask = self.inputs["attention_mask"]
            positions = self.family.positions(mask, self.inputs, self.model)
            out = self.family.forward(self.model, self.inputs, position_ids=positions, use_cache=True, logits_to_keep=1)
            self.mask, self.position = mask, None if positions is None else positions[..., -1:] + 1
        else:
            if new_tokens is None:
                raise ValueError("a reference branch past its first step needs the tokens just generated")
            self.mask = torch.cat([self.mask, torch.ones_like(self.mask[:, :1])], dim=1)
            out = self.family.forward(
                self.model,
                {"input_ids": new_tokens.to(self.model.device)[:, None], "attention_mask": self.mask},
                position_ids=self.position,
                use_cache=True,
                **{self.cache_arg: self.cache},
            )
            self.position = None if self.position is None else self.position + 1
        self.cache = self.family.cache_of(out)
        return out.logits[:, -1].float()


class ContrastLogitsProcessor(LogitsProcessor):
    r"""Contrast the image branch's scores ``l`` with the mean ``l_ref`` of the reference ``branches``' logits for the
    same prefix (as transformers' ``UnbatchedClassifierFreeGuidanceLogitsProcessor`` owns its second branch):

        (1 + alpha) * l - alpha * l_ref,   -inf where l < log(beta) + max(l)

    ``alpha >= 0`` (0: the plausibility cut alone) and ``0 < beta <= 1`` are checked once, here. Put it before the
    warpers (``DecodingMethod.generate_kwargs`` does)."""

    def __init__(self, branches: Sequence[ReferenceBranch], alpha: float, beta: float) -> None:
        check_alpha_beta(alpha, beta)
        if not branches:
            raise ValueError("a contrastive processor needs at least one reference branch")
        self.branches, self.alpha, self.beta = list(branches), alpha, beta
        self.started = False

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        new = input_ids[:, -1] if self.started else None
        self.started = True
        ref = torch.stack([branch.next_logits(new) for branch in self.branches]).mean(dim=0)
        return _contrast(scores, ref.to(scores.device, scores.dtype), self.alpha, self.beta)


def reference_inputs(
    processor: ProcessorMixin,
    prompts: Sequence[str],
    reference: str,
    images: Sequence[Image.Image] | None = None,
    noise_seeds: Sequence[int] | None = None,
) -> dict[str, torch.Tensor]:
    """Model inputs of one reference, a probe of ``inputs.probes.PROBES``: ``none`` / ``unk`` (text only), or
    ``vcd-noise`` (the image noised at step 500, one seed per prompt)."""
    probe = get_probe(reference)
    if not probe.per_image:
        return dict(probe_inputs(processor, prompts, reference))
    if images is None or (probe.seeded and noise_seeds is None):
        raise ValueError(f"the {reference} reference needs the images and one noise seed per image")
    return dict(probe_inputs(processor, prompts, reference, images, noise_seeds))


@dataclass(frozen=True)
class ContrastiveDecoding(DecodingMethod):
    """VDD (references ``none``, ``unk`` or both) and VCD (``vcd-noise``): :class:`ContrastLogitsProcessor` against
    the mean of the ``references``' branches, at the parameters' ``alpha`` and ``beta``. VCD needs the batch's images
    and noise seeds."""

    def __post_init__(self) -> None:
        unknown = [r for r in self.references if r not in REFERENCES]
        if not self.references or unknown:
            raise ValueError(f"a contrastive decoding method needs references among {list(REFERENCES)}, got "
                             f"{list(self.references)}")  # fmt: skip

    def logits_processors(self, batch: GenerationBatch, parameters: DecodingParameters) -> list[LogitsProcessor]:
        branches = [
            ReferenceBranch(batch.model, reference_inputs(batch.processor, batch.prompts, r, batch.images,
                                                          batch.noise_seeds))
            for r in self.references
        ]  # fmt: skip
        return [ContrastLogitsProcessor(branches, parameters.alpha, parameters.beta)]
