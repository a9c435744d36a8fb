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
from dataclasses import MISSING, dataclass, field, fields
from typing import TYPE_CHECKING, ClassVar

from lvlm_debias.decoding.sampling import DecodingConfig, warpers
from lvlm_debias.settings import schema_default

if TYPE_CHECKING:  # annotations only: the parameters below are read by jobs that load no model
    import torch
    from PIL import Image
    from transformers import LogitsProcessor, PreTrainedModel, ProcessorMixin


def check_alpha_beta(alpha: float, beta: float) -> None:
    """Raise ``ValueError`` naming the bad value unless ``alpha >= 0`` and ``0 < beta <= 1``."""
    if not (isinstance(alpha, int | float) and alpha >= 0 and math.isfinite(alpha)):
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
    if not (isinstance(beta, int | float) and 0 < beta <= 1):
        raise ValueError(f"beta must lie in (0, 1], got {beta!r}")


def _check_number(name: str, value, minimum: float, *, integer: bool = False, strict: bool = False) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is a finite number (an int if ``integer``) >= ``minimum``
    (> if ``strict``)."""
    kinds = int if integer else int | float
    ok = isinstance(value, kinds) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < minimum or (strict and value == minimum):
        kind = "an integer" if integer else "a finite number"
        raise ValueError(f"{name} must be {kind} {'>' if strict else '>='} {minimum}, got {value!r}")


@dataclass(frozen=True)
class OperaParameters:
    """OPERA's parameters (``decoding.opera``), the config's ``generation.opera`` keys of the same names; their
    defaults, those of the official code, are written in ``config/schema.yaml`` only: ``beams`` of the beam search,
    ``candidates`` per beam whose attention is read (``num_attn_candidates``), the attention ``scale_factor``, the
    rollback ``threshold`` (steps) and the ``penalty_weight`` (``penalty_weights``)."""

    beams: int = schema_default("generation.opera.beams")
    candidates: int = schema_default("generation.opera.candidates")
    scale_factor: float = schema_default("generation.opera.scale_factor")
    threshold: int = schema_default("generation.opera.threshold")
    penalty_weight: float = schema_default("generation.opera.penalty_weight")

    def __post_init__(self) -> None:
        _check_number("opera.beams", self.beams, 1, integer=True)
        _check_number("opera.candidates", self.candidates, 1, integer=True)
        _check_number("opera.scale_factor", self.scale_factor, 0, strict=True)
        _check_number("opera.threshold", self.threshold, 0, integer=True)
        _check_number("opera.penalty_weight", self.penalty_weight, 0)


@dataclass(frozen=True)
class DecodingParameters:
    """The decoding methods' parameters, the config's ``generation`` keys of the same names (their defaults are
    written in ``config/schema.yaml`` only): the contrast strength ``alpha >= 0`` and the plausibility cut
    ``0 < beta <= 1`` of VDD, VCD and ICD, M3ID's ``m3id_lambda >= 0`` (``decoding.m3id``), ICD's disturbing
    ``icd_instruction`` (``decoding.icd``) and OPERA's :class:`OperaParameters` (``opera``; a mapping of its keys is
    read into one, missing keys at their defaults). Validated once, here. A new method's parameter is a new field here
    and a new ``generation`` key in the schema."""

    alpha: float
    beta: float
    m3id_lambda: float = schema_default("generation.m3id_lambda")
    icd_instruction: str = schema_default("generation.icd_instruction")
    opera: OperaParameters = field(default_factory=OperaParameters)

    def __post_init__(self) -> None:
        check_alpha_beta(self.alpha, self.beta)
        _check_number("m3id_lambda", self.m3id_lambda, 0)
        if isinstance(self.opera, Mapping):
            known = [f.name for f in fields(OperaParameters)]
            unknown = sorted(set(self.opera) - set(known))
            if unknown:
                raise ValueError(f"unknown opera parameters {unknown}; known: {known}")
            object.__setattr__(self, "opera", OperaParameters(**self.opera))
        elif not isinstance(self.opera, OperaParameters):
            raise ValueError(f"opera must be a mapping of OPERA's parameters, got {self.opera!r}")
        if not (isinstance(self.icd_instruction, str) and self.icd_instruction.strip()):
            raise ValueError(f"icd_instruction must be a non-empty text, got {self.icd_instruction!r}")

    @classmethod
    def from_section(cls, section: Mapping) -> DecodingParameters:
        """The parameters of a ``generation`` config section (as the schema filled it; other keys are ignored; a field
        with a default, which it reads from the schema, may be left out)."""
        required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
        return cls(**{f.name: section[f.name] for f in fields(cls) if f.name in section or f.name in required})


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

    ``references``: the reference inputs it decodes against besides the image input
    (``decoding.processors.reference_inputs`` names them: ``none``, ``unk``, ``vcd-noise``); empty for naive. The rest
    of the code reads it (which probes a method needs; which methods the logit cache can derive) instead of switching
    on the method's name.

    Jobs that load no model read the registry of methods (``decoding.methods``), so a method's module imports torch,
    transformers and the model code inside its hooks (``decoding.processors`` holds the contrastive methods' model
    code; ``tests/test_imports.py`` checks it).
    """

    references: tuple[str, ...] = ()
    #: False for a method whose answers do not depend on the sampling setting (OPERA's beam search): generation
    #: decodes it at the first of the config's ``generation.settings`` only, instead of repeating it at each
    samples: ClassVar[bool] = True

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
        from transformers import LogitsProcessorList

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
        on the model's device). The hook for a decoding method that is not a logits processor (OPERA overrides
        it: beam search with an attention penalty); sampling is already seeded when it is called."""
        pad = batch.processor.tokenizer.pad_token_id
        return batch.model.generate(**inputs, max_new_tokens=max_new_tokens, pad_token_id=pad, **kwargs)


@dataclass(frozen=True)
class Naive(DecodingMethod):
    """Naive decoding: the model's own next-token distribution, under the decoding configuration's warpers."""
