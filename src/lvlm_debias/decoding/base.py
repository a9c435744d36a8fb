"""What a decoding method is: :class:`DecodingMethod`, the seam every decoding method (naive, VDD, VCD, yours) fills,
with the batch it decodes (:class:`GenerationBatch`) and the parameters it reads (:class:`DecodingParameters`).

``decoding.decode.generate_texts`` calls, per batch, ``kwargs = method.generate_kwargs(batch, config, parameters)``
then ``method.generate(batch, inputs, kwargs, max_new_tokens)``. A logits-processor method (VDD, VCD, a token ban)
overrides only :meth:`DecodingMethod.logits_processors`; a method that is not one (OPERA: beam search with an
attention penalty) overrides :meth:`DecodingMethod.generate`. The registry of names is ``decoding.methods``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, fields

import torch
from PIL import Image
from transformers import LogitsProcessor, LogitsProcessorList, PreTrainedModel, ProcessorMixin

from lvlm_debias.decoding.sampling import DecodingConfig, warpers
from lvlm_debias.settings import schema_default


def check_alpha_beta(alpha: float, beta: float) -> None:
    """Raise ``ValueError`` naming the bad value unless ``alpha >= 0`` and ``0 < beta <= 1``."""
    if not (isinstance(alpha, int | float) and alpha >= 0 and math.isfinite(alpha)):
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
    if not (isinstance(beta, int | float) and 0 < beta <= 1):
        raise ValueError(f"beta must lie in (0, 1], got {beta!r}")


@dataclass(frozen=True)
class DecodingParameters:
    """The decoding methods' parameters, the config's ``generation`` keys of the same names (their defaults are
    written in ``config/schema.yaml`` only): the contrast strength ``alpha >= 0`` and the plausibility cut
    ``0 < beta <= 1`` of VDD, VCD and ICD, M3ID's ``m3id_lambda >= 0`` (``decoding.m3id``) and ICD's disturbing
    ``icd_instruction`` (``decoding.icd``). Validated once, here. A
    new method's parameter is a new field here and a new ``generation`` key in the schema."""

    alpha: float
    beta: float
    m3id_lambda: float = schema_default("generation.m3id_lambda")
    icd_instruction: str = schema_default("generation.icd_instruction")

    def __post_init__(self) -> None:
        check_alpha_beta(self.alpha, self.beta)
        lam = self.m3id_lambda
        if not (isinstance(lam, int | float) and not isinstance(lam, bool) and lam >= 0 and math.isfinite(lam)):
            raise ValueError(f"m3id_lambda must be a finite number >= 0, got {lam!r}")
        if not (isinstance(self.icd_instruction, str) and self.icd_instruction.strip()):
            raise ValueError(f"icd_instruction must be a non-empty text, got {self.icd_instruction!r}")

    @classmethod
    def from_section(cls, section: Mapping) -> DecodingParameters:
        """The parameters of a ``generation`` config section (as the schema filled it; other keys are ignored; a field
        with a default, which it reads from the schema, may be left out)."""
        return cls(**{f.name: section[f.name] for f in fields(cls) if f.name in section or f.default is MISSING})


#: the ``generation`` config keys that are decoding parameters (the fields of :class:`DecodingParameters`)
DECODING_PARAMETERS: tuple[str, ...] = tuple(f.name for f in fields(DecodingParameters))


@dataclass(frozen=True)
class GenerationBatch:
    """One batch being decoded: the model and processor, the prompts (one per row) and their images, and one VCD
    noise seed per image (seeded by image, so batching does not change the noise). ``images`` and ``noise_seeds``
    may be None for a method whose references are text only."""

    model: PreTrainedModel
    processor: ProcessorMixin
    prompts: Sequence[str]
    images: Sequence[Image.Image] | None = None
    noise_seeds: Sequence[int] | None = None


@dataclass(frozen=True)
class DecodingMethod:
    """A decoding method; this base decodes with the model's own distribution (naive decoding).

    ``references``: the reference inputs it decodes against besides the image input (``decoding.vdd.reference_inputs``
    names them: ``none``, ``unk``, ``vcd-noise``); empty for naive. The rest of the code reads it (which probes a
    method needs; which methods the logit cache can derive) instead of switching on the method's name.
    """

    references: tuple[str, ...] = ()

    def logits_processors(self, batch: GenerationBatch, parameters: DecodingParameters) -> list[LogitsProcessor]:
        """The processors applied to the image branch's logits at each step, before the temperature / top-k / top-p
        warpers; none here (the model's own distribution). Build them (and validate their arguments) here, once
        per batch, not in their ``__call__``."""
        return []

    def generate_kwargs(
        self, batch: GenerationBatch, config: DecodingConfig, parameters: DecodingParameters
    ) -> dict[str, object]:
        """Keyword arguments for ``model.generate`` under ``config``. Without processors: ``config``'s own
        (:meth:`DecodingConfig.generate_kwargs`). With them: the processors first, then config's warpers
        (``generate`` is told to add none of its own, since it would put them before a custom processor)."""
        processors = LogitsProcessorList(self.logits_processors(batch, parameters))
        if not processors:
            return config.generate_kwargs()
        if not config.do_sample:
            return {"do_sample": False, "logits_processor": processors}
        processors.extend(warpers(config))
        return {"do_sample": True, "temperature": 1.0, "top_k": 0, "top_p": 1.0, "logits_processor": processors}

    def generate(
        self, batch: GenerationBatch, inputs: Mapping[str, torch.Tensor], kwargs: Mapping, max_new_tokens: int
    ) -> torch.Tensor:
        """The generated ids (prompt included, as ``model.generate`` returns them) of ``inputs`` (the image input,
        on the model's device). The hook for a decoding method that is not a logits processor (OPERA will override
        it: beam search with an attention penalty); sampling is already seeded when it is called."""
        pad = batch.processor.tokenizer.pad_token_id
        return batch.model.generate(**inputs, max_new_tokens=max_new_tokens, pad_token_id=pad, **kwargs)


@dataclass(frozen=True)
class Naive(DecodingMethod):
    """Naive decoding: the model's own next-token distribution, under the decoding configuration's warpers."""
