"""The questions callers used to ask about a model's family, each now answered by the family itself
(``models.families``: one file per family, :func:`~lvlm_debias.models.families.family_of` the one place a
checkpoint's family is told). New code calls ``family_of(model)`` and its methods directly."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from transformers import PreTrainedModel, ProcessorMixin

from lvlm_debias.models.families import family_of
from lvlm_debias.models.families.instructblip import InstructBlip


def uses_query_tokens(model: PreTrainedModel) -> bool:
    """Whether ``model`` is a query-token model (InstructBLIP), whose forward needs an image."""
    return isinstance(family_of(model), InstructBlip)


def processor_prompts(processor: ProcessorMixin, prompts: Sequence[str]) -> list[str]:
    """The texts to give ``processor`` together with images (``Family.processor_prompts``)."""
    return family_of(processor).processor_prompts(processor, prompts)


def text_model(model: PreTrainedModel) -> PreTrainedModel:
    """The module that reads inputs without ``pixel_values`` (``Family.text_model``)."""
    return family_of(model).text_model(model)


def forward(model: PreTrainedModel, inputs: Mapping[str, torch.Tensor], **kwargs):
    """The language model's output of ``model`` on ``inputs`` (``Family.forward``)."""
    return family_of(model).forward(model, inputs, **kwargs)
