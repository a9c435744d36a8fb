"""What differs between the supported model families, behind one interface.

Two ways of putting an image into the language model's input are supported:

- **placeholder** models (LLaVA-1.5 and every ``llava-hf`` checkpoint, the embedded model): the prompt holds the
  ``<image>`` placeholder where the image goes; the processor expands it to one token per image feature, and the model
  runs with or without ``pixel_values`` (without them it is the language model alone, the None / Unk probes).
- **query-token** models (InstructBLIP): the processor itself puts ``num_query_tokens`` image tokens before the text
  and feeds the text to the Q-Former too, so the prompt template still marks the image with ``<image>``, at its very
  start, and that placeholder is taken out of the text given to the processor. Their ``forward`` always needs an
  image, so inputs without ``pixel_values`` (None / Unk) go to their ``language_model``, and the outputs of interest
  (logits, cache, attentions) are the language model's.

The None and Unk probes therefore mean the same for both: the language model reads the prompt with the image tokens
removed (None) or the placeholder replaced by one ``<unk>`` token (Unk). In the attention analysis no text precedes
an InstructBLIP image, so its system group is empty and the whole prompt counts as the question.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from transformers import PreTrainedModel, ProcessorMixin

from lvlm_debias.models.prompts import IMAGE_PLACEHOLDER

#: ``config.model_type`` of the query-token families (the rest are placeholder models).
QUERY_TOKEN_MODELS = ("instructblip",)


def uses_query_tokens(model: PreTrainedModel) -> bool:
    """Whether ``model`` is a query-token model (InstructBLIP), whose forward needs an image."""
    return getattr(model.config, "model_type", None) in QUERY_TOKEN_MODELS


def processor_adds_image_tokens(processor: ProcessorMixin) -> bool:
    """Whether ``processor`` puts the image tokens into ``input_ids`` itself (InstructBLIP's ``num_query_tokens``)
    rather than expanding a placeholder found in the text."""
    return hasattr(processor, "qformer_tokenizer")


def processor_prompts(processor: ProcessorMixin, prompts: Sequence[str]) -> list[str]:
    """The texts to give ``processor`` together with images.

    Placeholder processors get the prompts unchanged. A query-token processor places the image before the text
    itself, so each prompt must start with the placeholder, which is taken out (otherwise the image would be
    inserted twice); a prompt that holds it elsewhere fails, naming the prompt.
    """
    if not processor_adds_image_tokens(processor):
        return list(prompts)
    if getattr(processor, "num_query_tokens", None) is None:
        raise ValueError(
            f"{type(processor).__name__} has no num_query_tokens (a processor config from before transformers 4.47?):"
            " save the processor again with num_query_tokens set to the model config's"
        )
    out = []
    for prompt in prompts:
        if not prompt.startswith(IMAGE_PLACEHOLDER):
            raise ValueError(
                f"the prompt {prompt!r} must start with {IMAGE_PLACEHOLDER!r}: {type(processor).__name__} puts the "
                "image before the text"
            )
        out.append(prompt[len(IMAGE_PLACEHOLDER) :])
    return out


def text_model(model: PreTrainedModel) -> PreTrainedModel:
    """The module that reads inputs without ``pixel_values``: the model itself (placeholder models) or its
    ``language_model`` (query-token models)."""
    return model.language_model if uses_query_tokens(model) else model


def forward(model: PreTrainedModel, inputs: Mapping[str, torch.Tensor], **kwargs):
    """Run ``model`` on ``inputs`` (``kwargs`` such as ``position_ids``, ``use_cache``, ``output_attentions`` passed
    on) and return the language model's output: ``logits``, its cache, and ``attentions`` when asked for."""
    if uses_query_tokens(model) and "pixel_values" in inputs:
        return model(**inputs, **kwargs).language_model_outputs
    return text_model(model)(**inputs, **kwargs)
