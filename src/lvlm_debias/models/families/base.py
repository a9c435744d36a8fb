"""What a model family must say, in one file: the :class:`Family` interface.

A family is the set of checkpoints one ``config.model_type`` names (``llava``, ``instructblip``). Everything the library
does differently for them is a method here, so the scoring, decoding and attention code never asks which family it
runs: it asks the family (``families.family_of(model)`` or ``family_of(processor)``).

- **the processor**: its class, its image token and how it expands it into a prompt (:meth:`Family.processor_prompts`),
  how many image tokens the model fills (:meth:`Family.expected_image_tokens`), what an old processor config lacks
  (:meth:`Family.fill_processor`);
- **the probes' inputs**: the None / Unk probes read the prompt's own token ids (:meth:`Family.text_ids`) with the
  image token dropped (None) or replaced by ``<unk>`` (Unk), and go to the language model alone; Zero / One process a
  blank image (:meth:`Family.blank_image`) for the pixel tensor's shape; Noise maps each image's pixels
  (:meth:`Family.map_images`, whatever the tensor's layout); the prefix cache processes images without text
  (:meth:`Family.image_pixels`);
- **running the model**: moving a batch to the device and casting its pixels (:meth:`Family.to_device`), the
  position ids of a left-padded batch (:meth:`Family.positions`; None lets an M-RoPE model compute its own), the
  forward that returns the language model's outputs (:meth:`Family.forward`), and whether the image prefix can be
  shared by the questions about one image (:attr:`Family.shares_prefix`).
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar

import torch
from PIL import Image
from transformers import PreTrainedConfig, PreTrainedModel, ProcessorMixin

from lvlm_debias.models.prompts import IMAGE_PLACEHOLDER


def map_rows(pixels: torch.Tensor, fn: Callable[[int, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``fn(i, pixels[i])`` for every row of a tensor holding one image per row ((N, C, H, W)), stacked."""
    return torch.stack([fn(i, x) for i, x in enumerate(pixels)])


class Family(ABC):
    """One model family (one ``config.model_type``): subclass it in ``models/families/<name>.py`` and add an instance
    to ``models.families.FAMILIES``. The defaults suit a placeholder model of fixed resolution (LLaVA)."""

    #: the ``config.model_type`` of the family's checkpoints (its key in ``FAMILIES``)
    model_type: ClassVar[str]
    #: the processor built for its checkpoints, whatever ``processor_class`` the repo's files name
    processor_class: ClassVar[type[ProcessorMixin]]
    #: whether the image's part of a prompt can be computed once for every question about the image (False when the
    #: image's tokens depend on the text, as InstructBLIP's Q-Former output does)
    shares_prefix: ClassVar[bool] = True

    # -- the processor: its image token and how it expands it

    def image_token(self, processor: ProcessorMixin) -> str:
        """The processor's image placeholder token, as a string."""
        token = getattr(processor, "image_token", None) or getattr(processor.tokenizer, "image_token", None)
        token = token or IMAGE_PLACEHOLDER
        return str(getattr(token, "content", token))  # InstructBLIP's processor holds an AddedToken

    def image_token_id(self, processor: ProcessorMixin) -> int:
        """The id of the processor's image placeholder token."""
        tokenizer = processor.tokenizer
        token = self.image_token(processor)
        token_id = tokenizer.convert_tokens_to_ids(token)
        if token_id is None or token_id == tokenizer.unk_token_id:
            raise ValueError(f"the tokenizer has no image token {token!r}")
        return token_id

    def set_image_token(self, processor: ProcessorMixin, token: str, token_id: int) -> None:
        """Make ``token`` (id ``token_id``, the model config's ``image_token_index``) the processor's image token."""
        processor.image_token, processor.image_token_id = token, token_id

    def processor_prompts(self, processor: ProcessorMixin, prompts: Sequence[str]) -> list[str]:
        """The texts to give the processor with the images (each prompt holds one image placeholder); the processor
        expands the placeholder to :meth:`expected_image_tokens` image tokens. Unchanged by default."""
        return list(prompts)

    @abstractmethod
    def expected_image_tokens(self, config: PreTrainedConfig) -> int | None:
        """Image tokens per image that the model fills with image features, from its config alone (None when it
        cannot be told: the count is then not checked at load)."""

    def fill_processor(self, processor: ProcessorMixin, config: PreTrainedConfig, saved: Mapping) -> dict[str, object]:
        """What the repo's saved processor config (``saved``) lacks and the model's ``config`` tells, as
        ``{attribute: value}`` (set on the processor by the caller). Nothing by default."""
        return {}

    def prepare_processor(self, processor: ProcessorMixin) -> None:  # noqa: B027 (a hook: nothing by default)
        """Last touches to a loaded processor (after :meth:`fill_processor`). Nothing by default."""

    # -- the probes' inputs

    def text_ids(self, processor: ProcessorMixin, prompts: Sequence[str]) -> list[list[int]]:
        """Each prompt's token ids as its tokenizer encodes it, the image placeholder one token: what the None probe
        drops that token from and the Unk probe replaces it in (the language model alone reads them)."""
        return processor.tokenizer(list(prompts), add_special_tokens=True)["input_ids"]

    def blank_image(self, processor: ProcessorMixin) -> Image.Image:
        """The image processed for the Zero / One probes (its pixels are then replaced) and to count a prompt's image
        tokens: any size does for a processor that resizes to one resolution (64 x 64 black)."""
        return Image.new("RGB", (64, 64))

    def map_images(
        self,
        pixels: torch.Tensor,
        fn: Callable[[int, torch.Tensor], torch.Tensor],
        inputs: Mapping[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """``pixels`` with the pixels of image ``i`` replaced by ``fn(i, its pixels)``, for every image of the batch;
        by default one image per row of a (N, C, H, W) tensor (:func:`map_rows`). ``inputs``, the processor's whole
        output, is there for a layout whose images another tensor tells apart (Qwen2.5-VL's ``image_grid_thw``)."""
        return map_rows(pixels, fn)

    def image_pixels(self, processor: ProcessorMixin, images: Sequence[Image.Image]) -> dict[str, torch.Tensor]:
        """The pixel inputs of ``images``, one image per prompt, processed without text (the prefix cache):
        ``{"pixel_values": ...}`` from the image processor by default; a family adds what its model reads with them
        (SmolVLM's ``pixel_attention_mask``)."""
        return {"pixel_values": processor.image_processor(images=list(images), return_tensors="pt")["pixel_values"]}

    # -- running the model

    def to_device(self, model: PreTrainedModel, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``inputs`` on the model's device, their ``pixel_values`` (when present) in the model's dtype."""
        batch = {k: v.to(model.device) for k, v in inputs.items()}
        if "pixel_values" in batch:
            batch["pixel_values"] = batch["pixel_values"].to(model.dtype)
        return batch

    def positions(self, attention_mask: torch.Tensor) -> torch.Tensor | None:
        """Position ids of a left-padded batch: each row counts its real tokens from 0 (padding at 0). None lets the
        model compute its own (an M-RoPE model, whose positions depend on the image grid)."""
        return (attention_mask.cumsum(-1) - 1).clamp(min=0)

    def text_model(self, model: PreTrainedModel) -> PreTrainedModel:
        """The module that reads inputs without ``pixel_values`` (the None / Unk probes): the model itself."""
        return model

    def forward(self, model: PreTrainedModel, inputs: Mapping[str, torch.Tensor], **kwargs):
        """Run ``model`` on ``inputs`` (``kwargs`` such as ``position_ids``, ``use_cache``, ``output_attentions``
        passed on) and return the language model's output: ``logits``, its cache, and ``attentions`` when asked."""
        return self.text_model(model)(**inputs, **kwargs)

    def cache_arg(self, model: PreTrainedModel) -> str:
        """The name the language model's forward takes its key/value cache under (transformers renamed
        ``past_key_values`` to ``cache`` in 5.2x)."""
        parameters = inspect.signature(self.text_model(model).forward).parameters
        return "cache" if "cache" in parameters else "past_key_values"

    @staticmethod
    def cache_of(output):
        """The key/value cache of a forward's ``output`` (``cache`` or, before transformers 5.2x,
        ``past_key_values``)."""
        cache = getattr(output, "cache", None)
        return cache if cache is not None else output.past_key_values

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_type={self.model_type!r})"
