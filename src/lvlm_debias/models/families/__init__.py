"""The model families and the one place a checkpoint's family is told: :data:`FAMILIES` and :func:`family_of`.

A new family is one file in this package (a :class:`~lvlm_debias.models.families.base.Family` subclass) and one line
in :data:`FAMILIES` (``docs/extending.md``, "A new model family").
"""

from __future__ import annotations

from transformers import PreTrainedConfig, PreTrainedModel, ProcessorMixin

from lvlm_debias.models.families.base import Family
from lvlm_debias.models.families.instructblip import InstructBlip
from lvlm_debias.models.families.llava import Llava
from lvlm_debias.models.families.llava_onevision import LlavaOnevision
from lvlm_debias.models.families.qwen2_5_vl import Qwen25VL
from lvlm_debias.models.families.smolvlm import Idefics3, SmolVlm

__all__ = ["FAMILIES", "Family", "UnknownFamilyError", "family_of"]

#: every supported family, by the ``config.model_type`` of its checkpoints
FAMILIES: dict[str, Family] = {
    family.model_type: family
    for family in (Llava(), InstructBlip(), LlavaOnevision(), Qwen25VL(), Idefics3(), SmolVlm())
}


class UnknownFamilyError(ValueError):
    """A checkpoint, config or processor of no family in :data:`FAMILIES`; the message names the known ones."""


def family_of(thing: PreTrainedModel | PreTrainedConfig | ProcessorMixin | str) -> Family:
    """The family of a model, a model config, a processor (by its class, the most specific
    :attr:`Family.processor_class` it is an instance of) or a ``model_type`` string; :class:`UnknownFamilyError`
    naming the known families otherwise."""
    if isinstance(thing, ProcessorMixin):
        for cls in type(thing).__mro__:  # the most specific class first: a subclass's family before its base's
            for family in FAMILIES.values():
                if family.processor_class is cls:
                    return family
        raise UnknownFamilyError(
            f"no model family has the processor {type(thing).__name__}; known families: "
            f"{ {k: f.processor_class.__name__ for k, f in FAMILIES.items()} } (docs/extending.md: a new model family)"
        )
    model_type = thing if isinstance(thing, str) else getattr(getattr(thing, "config", thing), "model_type", None)
    if model_type not in FAMILIES:
        raise UnknownFamilyError(
            f"no model family for model_type {model_type!r}; known: {list(FAMILIES)} "
            "(docs/extending.md: a new model family)"
        )
    return FAMILIES[model_type]
