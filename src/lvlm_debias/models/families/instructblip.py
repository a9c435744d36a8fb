"""InstructBLIP: a **query-token** model.

The processor itself puts ``num_query_tokens`` image tokens before the text and feeds the text to the Q-Former too,
so the prompt template still marks the image with ``<image>``, at its very start, and that placeholder is taken out of
the text given to the processor. Its ``forward`` always needs an image, so inputs without ``pixel_values`` (None /
Unk) go to its ``language_model``, and the outputs of interest (logits, cache, attentions) are the language model's.

The None and Unk probes therefore mean what they mean for LLaVA: the language model reads the prompt with the image
token removed (None) or replaced by one ``<unk>`` token (Unk). In the attention analysis no text precedes an
InstructBLIP image, so its system group is empty and the whole prompt counts as the question. The image's tokens
depend on the question (the Q-Former reads it), so no image prefix is shared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from transformers import AddedToken, InstructBlipProcessor, PreTrainedConfig, PreTrainedModel, ProcessorMixin

from lvlm_debias.models.families.base import Family
from lvlm_debias.models.prompts import IMAGE_PLACEHOLDER


class InstructBlip(Family):
    model_type = "instructblip"
    processor_class = InstructBlipProcessor
    shares_prefix = False

    def set_image_token(self, processor: ProcessorMixin, token: str, token_id: int) -> None:
        """The processor reads ``image_token.content``: an ``AddedToken``."""
        processor.image_token = AddedToken(token, normalized=False, special=True)

    def processor_prompts(self, processor: ProcessorMixin, prompts: Sequence[str]) -> list[str]:
        """The processor places the image before the text itself, so each prompt must start with the placeholder,
        which is taken out (otherwise the image would be inserted twice); a prompt that holds it elsewhere fails,
        naming the prompt."""
        if getattr(processor, "num_query_tokens", None) is None:
            raise ValueError(
                f"{type(processor).__name__} has no num_query_tokens (a processor config from before transformers"
                " 4.47?): save the processor again with num_query_tokens set to the model config's"
            )
        out = []
        for prompt in prompts:
            if not prompt.startswith(IMAGE_PLACEHOLDER):
                raise ValueError(
                    f"the prompt {prompt!r} must start with {IMAGE_PLACEHOLDER!r}: {type(processor).__name__} puts "
                    "the image before the text"
                )
            out.append(prompt[len(IMAGE_PLACEHOLDER) :])
        return out

    def expected_image_tokens(self, config: PreTrainedConfig) -> int | None:
        """``num_query_tokens`` (32 for InstructBLIP-Vicuna-7B)."""
        return config.num_query_tokens

    def fill_processor(self, processor: ProcessorMixin, config: PreTrainedConfig, saved: Mapping) -> dict[str, object]:
        """``num_query_tokens`` (the model's), where the saved config lacks it."""
        return {"num_query_tokens": config.num_query_tokens} if saved.get("num_query_tokens") is None else {}

    def prepare_processor(self, processor: ProcessorMixin) -> None:
        """The processor reads ``image_token.content`` but takes a plain string from a tokenizer that names its image
        token: give it the token object it expects."""
        if isinstance(getattr(processor, "image_token", None), str):
            processor.image_token = AddedToken(processor.image_token, normalized=False, special=True)

    def text_model(self, model: PreTrainedModel) -> PreTrainedModel:
        """Its ``language_model``: the whole model's forward needs an image."""
        return model.language_model

    def forward(self, model: PreTrainedModel, inputs: Mapping[str, torch.Tensor], **kwargs):
        """The whole model with ``pixel_values`` (its ``language_model_outputs``), the language model without."""
        if "pixel_values" in inputs:
            return model(**inputs, **kwargs).language_model_outputs
        return self.text_model(model)(**inputs, **kwargs)
