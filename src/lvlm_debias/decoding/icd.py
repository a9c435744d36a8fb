"""ICD, Instruction Contrastive Decoding (Wang et al., "Mitigating Hallucinations in Large Vision-Language Models
with Instruction Contrastive Decoding", Findings of ACL 2024, arXiv 2403.18715): contrast the image branch with the
same image under a disturbing instruction, which makes the model lean on its language prior.

At each step, with ``l`` the logits of the prompt and ``l_icd`` those of the same image and prefix under the prompt
with the disturbing instruction ``generation.icd_instruction`` put before the question (a role prefix such as "You
are a confused object detector."):

    contrast = (1 + alpha) * l - alpha * l_icd,   set to -inf where l < log(beta) + max(l)

the contrast and plausibility cut of VCD and VDD (``decoding.vdd``), at the config's ``generation.alpha`` and
``beta`` (the paper's 1 and 0.1). The disturbed branch reads the image (one extra image pass per batch) and keeps its
own KV cache (``decoding.processors.ReferenceBranch``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lvlm_debias.decoding.base import DecodingMethod, DecodingParameters, GenerationBatch

if TYPE_CHECKING:  # annotations only: the method is read by jobs that load no model (decoding.processors runs it)
    from transformers import LogitsProcessor

#: the prompts' image placeholder (config/schema.yaml's `prompt` pattern requires one)
IMAGE = "<image>"


def disturbed_prompts(prompts: Sequence[str], instruction: str) -> list[str]:
    """Each prompt with the disturbing ``instruction`` put before the question: right after the ``<image>``
    placeholder (and the newline that follows it), so the question reads "<instruction> <question>" and every
    family keeps its image where its processor expects it (InstructBLIP's first). A prompt without the placeholder
    raises ValueError naming it."""
    out = []
    for prompt in prompts:
        head, found, rest = prompt.partition(IMAGE)
        if not found:
            raise ValueError(f"the prompt {prompt!r} has no {IMAGE} placeholder to put the ICD instruction after")
        newline = "\n" if rest.startswith("\n") else ""
        out.append(f"{head}{IMAGE}{newline}{instruction} {rest[len(newline) :]}")
    return out


@dataclass(frozen=True)
class ICD(DecodingMethod):
    """ICD: :class:`~lvlm_debias.decoding.processors.ContrastLogitsProcessor` against the same images under the prompts
    with the parameters' ``icd_instruction`` before them. Its reference is a prompt, not a probe: ``references`` is
    empty, so the logit cache derives nothing of it."""

    def logits_processors(self, batch: GenerationBatch, parameters: DecodingParameters) -> list[LogitsProcessor]:
        if batch.images is None:
            raise ValueError("ICD contrasts with the same images under a disturbing instruction: it needs the images")
        from lvlm_debias.decoding.processors import ContrastLogitsProcessor, ReferenceBranch
        from lvlm_debias.inputs.probes import probe_inputs

        prompts = disturbed_prompts(batch.prompts, parameters.icd_instruction)
        branch = ReferenceBranch(batch.model, dict(probe_inputs(batch.processor, prompts, "naive", batch.images)))
        return [ContrastLogitsProcessor([branch], parameters.alpha, parameters.beta)]
