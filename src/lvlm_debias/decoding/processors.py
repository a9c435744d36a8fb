"""The logits processors of the contrastive decoding methods, and the reference branches they contrast with: the
model-running half of ``decoding.vdd`` (VDD, VCD), ``decoding.m3id`` and ``decoding.icd``, whose method descriptors
(read by jobs that load no model) import this module only inside their ``logits_processors`` hooks.

- :class:`ReferenceBranch`: one reference input for a batch, with its own KV cache, one token per step.
- :func:`reference_inputs`: the model inputs of a reference probe (``none``, ``unk``, ``vcd-noise``).
- :class:`ContrastLogitsProcessor`: ``(1 + alpha) * l - alpha * l_ref`` under the plausibility cut
  (``decoding.vdd.contrast``), against the mean of its branches.
- :class:`M3IDLogitsProcessor`: M3ID's log-probability contrast with a weight that grows by step
  (``decoding.m3id.m3id_scores``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image
from transformers import LogitsProcessor, PreTrainedModel, ProcessorMixin

from lvlm_debias.decoding.base import check_alpha_beta
from lvlm_debias.decoding.m3id import m3id_scores
from lvlm_debias.decoding.vdd import unchecked_contrast
from lvlm_debias.inputs.probes import get_probe, probe_inputs
from lvlm_debias.models.families import family_of


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
        return unchecked_contrast(scores, ref.to(scores.device, scores.dtype), self.alpha, self.beta)


class M3IDLogitsProcessor(LogitsProcessor):
    """:func:`~lvlm_debias.decoding.m3id.m3id_scores` of the image branch's scores against ``branch``'s logits for
    the same prefix, the step counted from the first call (t = 1); ``lam`` as ``DecodingParameters`` checked it. Put
    it before the warpers."""

    def __init__(self, branch: ReferenceBranch, lam: float) -> None:
        self.branch, self.lam, self.step = branch, lam, 0

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        new = input_ids[:, -1] if self.step else None
        self.step += 1
        ref = self.branch.next_logits(new).to(scores.device)
        return m3id_scores(scores, ref, self.step, self.lam)
