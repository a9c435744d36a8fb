"""Qwen2.5-VL (``Qwen/Qwen2.5-VL-7B-Instruct``, ``-3B-Instruct``): a **dynamic-resolution placeholder** model with
three-dimensional rotary positions (M-RoPE).

**The prompt.** The template marks the image with ``<image>``; the family gives the processor
``<|vision_start|><|image_pad|><|vision_end|>`` in its place (:meth:`Qwen25VL.processor_prompts`), and the processor
expands ``<|image_pad|>`` to ``N = t·h·w / 4`` image tokens, ``(t, h, w)`` the image's patch grid
(``image_grid_thw``: 14-px patches, merged 2 × 2). The pixels of a whole batch are one ``(patches, features)``
tensor, image ``i`` its next ``t·h·w`` rows (:meth:`Qwen25VL.map_images`).

**What is fixed so that N is stable.** The image processor resizes an image to ``min_pixels <= H·W <= max_pixels``
(the hub repo's 3136 .. 12845056: N anywhere from 4 to 16384). :meth:`Qwen25VL.prepare_processor` pins both to one
budget, :data:`FIXED_PIXELS` = 256 · 28² (448 × 448, the lower bound Qwen's own README suggests), unless the repo's
processor already fixes one (``min_pixels == max_pixels``, as the tiny test checkpoint's does): every square image
then gives exactly 256 image tokens (16 × 16), and an image of another aspect ratio about as many (its grid keeps the
aspect ratio within the budget). Nothing in the library needs N constant (the count is read from ``input_ids``; the
load-time check is skipped: :meth:`Qwen25VL.expected_image_tokens` is None), but the Zero / One probes' blank image
(:meth:`Qwen25VL.blank_image`, a square of the budget) and every square image then feed the same number.

**None** is the prompt with the whole vision span ``<|vision_start|><|image_pad|><|vision_end|>`` dropped (the
markers go with the image: no empty image is announced), read by the whole model without pixels, which is then the
language model alone. **Unk** replaces that span by **one** token, ``<|vision_pad|>`` (:data:`UNK_TOKEN`), since
Qwen's tokenizer has no ``<unk>``: it is in the real vocabulary (id 151654), never
written by the processor, not the image token (so no image feature is put into it) and carries no text meaning: the
closest thing Qwen has to LLaVA's one ``<unk>`` in place of the image. One token, not N: as for LLaVA, Unk tells the
model "an image was here" without its size.

**Positions.** Left to the model (``position_ids`` None), a cached step's positions come from the ``rope_deltas`` it
keeps from whichever batch ran last and, in transformers 5.24, span the whole attention mask rather than the new
token: a VDD reference branch's steps fail (``tests/test_qwen2_5_vl.py`` shows it). So :meth:`Qwen25VL.positions`
always gives them explicitly: with an image, the model's ``get_rope_index`` of the batch (``(3, N, L)``: text tokens
count on, an image's tokens take (t, h, w) grid positions, then the text continues from the largest + 1; left
padding follows the attention mask); without one, the attention mask's count (``(N, L)``, which M-RoPE reads as the
same 1-D position on its three axes). The next generated token's position is the last one + 1 in both cases.

**The prefix cache does not apply** (``shares_prefix = False``). The prefix could be shared in principle (the
image's tokens do not depend on the question), but the suffix's positions continue the prefix's M-RoPE maximum + 1,
not its token count (a 256-token image spans 16 positions), and the image's pixels need their ``image_grid_thw`` and
its prompt ``mm_token_type_ids``: ``scoring.prefix`` would need all three; scoring falls back to whole prompts,
checked equal in ``tests/test_qwen2_5_vl.py``.

The processor built is :class:`Qwen25VLImageProcessor`, ``Qwen2_5_VLProcessor`` without its video processor: the
library feeds images only, and the video processor cannot be built without torchvision (not a dependency).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence

import torch
from PIL import Image
from transformers import PreTrainedConfig, PreTrainedModel, ProcessorMixin, Qwen2_5_VLProcessor

from lvlm_debias.models.families.base import Family
from lvlm_debias.models.prompts import IMAGE_PLACEHOLDER

log = logging.getLogger(__name__)

#: the pixel budget every image is resized to (min_pixels = max_pixels): 256 · 28² = 448², 256 image tokens
FIXED_PIXELS = 256 * 28 * 28
#: what the processor is given in place of ``<image>``: its image pad token between the vision markers
VISION_SPAN = "<|vision_start|><|image_pad|><|vision_end|>"
#: the one token the Unk probe feeds in place of the vision span (Qwen's tokenizer has no ``<unk>``)
UNK_TOKEN = "<|vision_pad|>"


class Qwen25VLImageProcessor(Qwen2_5_VLProcessor):
    """``Qwen2_5_VLProcessor`` for images and text only: no video processor (it needs torchvision), the rest as is."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)


class Qwen25VL(Family):
    model_type = "qwen2_5_vl"
    processor_class = Qwen25VLImageProcessor
    shares_prefix = False

    def processor_prompts(self, processor: ProcessorMixin, prompts: Sequence[str]) -> list[str]:
        """Each prompt's ``<image>`` replaced by :data:`VISION_SPAN`; a prompt that already holds a vision marker
        fails, naming it (the span would be doubled)."""
        for prompt in prompts:
            if "<|vision_start|>" in prompt or "<|image_pad|>" in prompt:
                raise ValueError(
                    f"the prompt {prompt!r} holds Qwen's vision tokens: mark the image with {IMAGE_PLACEHOLDER!r} "
                    f"alone (the family writes {VISION_SPAN!r} for it)"
                )
        return [p.replace(IMAGE_PLACEHOLDER, VISION_SPAN) for p in prompts]

    def text_ids(self, processor: ProcessorMixin, prompts: Sequence[str]) -> list[list[int]]:
        """The prompts' ids with the whole vision span as one ``<|image_pad|>``: the one token None drops and Unk
        replaces (Qwen's tokenizer adds no BOS)."""
        texts = [p.replace(IMAGE_PLACEHOLDER, "<|image_pad|>") for p in prompts]
        return processor.tokenizer(texts, add_special_tokens=True)["input_ids"]

    def unk_token_id(self, processor: ProcessorMixin) -> int:
        """The id of :data:`UNK_TOKEN`, ``<|vision_pad|>`` (see the module docstring); a tokenizer without it fails."""
        token_id = processor.tokenizer.convert_tokens_to_ids(UNK_TOKEN)
        if token_id is None or token_id == processor.tokenizer.unk_token_id:
            raise ValueError(f"the tokenizer has no {UNK_TOKEN!r}, the token the Unk probe feeds for Qwen2.5-VL")
        return token_id

    def expected_image_tokens(self, config: PreTrainedConfig) -> int | None:
        """None: the count depends on the processor's pixel budget and the image's aspect ratio, not on the config."""
        return None

    def prepare_processor(self, processor: ProcessorMixin) -> None:
        """Pin the image processor's ``min_pixels`` and ``max_pixels`` to :data:`FIXED_PIXELS` (logged) unless the
        repo's files already fix one budget."""
        size = processor.image_processor.size
        low, high = size["shortest_edge"], size["longest_edge"]
        if low != high:
            log.info("Qwen2.5-VL processor: min_pixels %d, max_pixels %d pinned to %d (256 image tokens per square "
                     "image)", low, high, FIXED_PIXELS)  # fmt: skip
            processor.image_processor.size = {"shortest_edge": FIXED_PIXELS, "longest_edge": FIXED_PIXELS}

    def blank_image(self, processor: ProcessorMixin) -> Image.Image:
        """A black square of the processor's pixel budget (448 × 448 for :data:`FIXED_PIXELS`)."""
        side = math.isqrt(processor.image_processor.size["longest_edge"])
        return Image.new("RGB", (side, side))

    def map_images(
        self,
        pixels: torch.Tensor,
        fn: Callable[[int, torch.Tensor], torch.Tensor],
        inputs: Mapping[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Image ``i``'s rows of the (patches, features) tensor are the next ``t·h·w`` of ``inputs["image_grid_thw"]``
        (required); ``fn(i, rows)`` replaces them."""
        if inputs is None or "image_grid_thw" not in inputs:
            raise ValueError("Qwen2.5-VL's pixels are one tensor for the batch: map_images needs image_grid_thw")
        sizes = inputs["image_grid_thw"].prod(-1).tolist()
        if sum(sizes) != len(pixels):
            raise ValueError(f"image_grid_thw gives {sum(sizes)} patches, pixel_values has {len(pixels)}")
        return torch.cat([fn(i, x) for i, x in enumerate(pixels.split(sizes))])

    def positions(
        self,
        attention_mask: torch.Tensor,
        inputs: Mapping[str, torch.Tensor] | None = None,
        model: PreTrainedModel | None = None,
    ) -> torch.Tensor:
        """With an image (``inputs`` holds ``image_grid_thw``): the model's ``get_rope_index`` (3, N, L); else the
        attention mask's count (N, L). Never None (see the module docstring)."""
        if inputs is not None and inputs.get("image_grid_thw") is not None:
            if model is None:
                raise ValueError("Qwen2.5-VL's positions with an image need the model (its get_rope_index)")
            positions, _ = model.model.get_rope_index(
                inputs["input_ids"],
                mm_token_type_ids=inputs["mm_token_type_ids"],
                image_grid_thw=inputs["image_grid_thw"],
                attention_mask=attention_mask,
            )
            return positions
        return (attention_mask.cumsum(-1) - 1).clamp(min=0)
