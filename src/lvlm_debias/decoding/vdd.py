"""Visual Debias Decoding (VDD) and VCD: contrast the image branch's next-token logits with a reference branch's.

At each generation step, with ``l`` the logits given the image and ``l_ref`` the logits for the same prefix under
the reference input (VDD-None: image tokens removed; VDD-Unk: the image token replaced by ``<unk>``; VDD-Both: the
mean of the None and Unk logits; VCD: the image noised at diffusion step 500):

    contrast = (1 + alpha) * l - alpha * l_ref,   set to -inf where l < log(beta) + max(l)

then the usual temperature / top-k / top-p warpers act on ``contrast``. Each reference branch keeps its own KV cache
and advances one token per step, for the whole batch at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from PIL import Image
from transformers import LogitsProcessor, LogitsProcessorList, PreTrainedModel, ProcessorMixin

from lvlm_debias.decoding.sampling import DecodingConfig, warpers
from lvlm_debias.inputs.noise import VCD_STEP, diffusion_noise
from lvlm_debias.inputs.probes import probe_inputs
from lvlm_debias.models.families import family_of

#: contrastive methods and the reference inputs they average
METHODS: dict[str, tuple[str, ...]] = {
    "vdd-none": ("none",),
    "vdd-unk": ("unk",),
    "vdd-both": ("none", "unk"),
    "vcd": ("vcd-noise",),
}


def check_alpha_beta(alpha: float, beta: float) -> None:
    """Raise ``ValueError`` naming the bad value unless ``alpha >= 0`` and ``0 < beta <= 1``."""
    if not (isinstance(alpha, int | float) and alpha >= 0 and math.isfinite(alpha)):
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
    if not (isinstance(beta, int | float) and 0 < beta <= 1):
        raise ValueError(f"beta must lie in (0, 1], got {beta!r}")


def contrast(logits: torch.Tensor, ref_logits: torch.Tensor, alpha: float = 1.0, beta: float = 0.1) -> torch.Tensor:
    """``(1 + alpha) * logits - alpha * ref_logits``, set to ``-inf`` where ``logits < log(beta) + max(logits)``
    (the adaptive plausibility constraint, on the last axis). Shapes must match."""
    check_alpha_beta(alpha, beta)
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
            positions = self.family.positions(mask)
            out = self.family.forward(self.model, self.inputs, position_ids=positions, use_cache=True, logits_to_keep=1)
            self.mask, self.position = mask, None if positions is None else positions[:, -1:] + 1
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
    """A ``transformers`` logits processor applying :func:`contrast` against the mean of ``branches``' logits.
    Put it before the warpers (:func:`contrastive_generate_kwargs` does)."""

    def __init__(self, branches: Sequence[ReferenceBranch], alpha: float = 1.0, beta: float = 0.1) -> None:
        check_alpha_beta(alpha, beta)
        if not branches:
            raise ValueError("a contrastive processor needs at least one reference branch")
        self.branches, self.alpha, self.beta = list(branches), alpha, beta
        self.started = False

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        new = input_ids[:, -1] if self.started else None
        self.started = True
        ref = torch.stack([branch.next_logits(new) for branch in self.branches]).mean(dim=0)
        return contrast(scores, ref.to(scores.device, scores.dtype), self.alpha, self.beta)


def reference_inputs(
    processor: ProcessorMixin,
    prompts: Sequence[str],
    reference: str,
    images: Sequence[Image.Image] | None = None,
    noise_seeds: Sequence[int] | None = None,
) -> dict[str, torch.Tensor]:
    """Model inputs of one reference: ``none`` / ``unk`` (text only), or ``vcd-noise`` (the image noised at step 500,
    one seed per prompt)."""
    if reference in ("none", "unk"):
        return dict(probe_inputs(processor, prompts, reference))
    if reference != "vcd-noise":
        raise ValueError(f"unknown reference {reference!r}; known: ['none', 'unk', 'vcd-noise']")
    if images is None or noise_seeds is None:
        raise ValueError("the VCD reference needs the images and one noise seed per image")
    inputs = dict(probe_inputs(processor, prompts, "naive", images))
    if len(noise_seeds) != len(prompts):
        raise ValueError(f"the VCD reference needs one noise seed per image: {len(noise_seeds)} for {len(prompts)}")
    inputs["pixel_values"] = family_of(processor).map_images(
        inputs["pixel_values"], lambda i, x: diffusion_noise(x, VCD_STEP, noise_seeds[i]), inputs
    )
    return inputs


def contrastive_generate_kwargs(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    prompts: Sequence[str],
    method: str,
    config: DecodingConfig,
    *,
    alpha: float = 1.0,
    beta: float = 0.1,
    images: Sequence[Image.Image] | None = None,
    noise_seeds: Sequence[int] | None = None,
) -> dict:
    """Keyword arguments for ``model.generate`` that decode with ``method`` (``METHODS``) under ``config``: the
    contrast first, then config's temperature / top-k / top-p warpers (``generate`` is told to add none of its own,
    since it would put them before a custom processor). VCD needs ``images`` and a noise seed per image (seed them
    by image, as the Noise probe does, so batching does not change the noise)."""
    if method not in METHODS:
        raise ValueError(f"unknown contrastive method {method!r}; known: {list(METHODS)}")
    branches = [
        ReferenceBranch(model, reference_inputs(processor, prompts, reference, images, noise_seeds))
        for reference in METHODS[method]
    ]
    processors = LogitsProcessorList([ContrastLogitsProcessor(branches, alpha, beta)])
    if not config.do_sample:
        return {"do_sample": False, "logits_processor": processors}
    processors.extend(warpers(config))
    return {"do_sample": True, "temperature": 1.0, "top_k": 0, "top_p": 1.0, "logits_processor": processors}
