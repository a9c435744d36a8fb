"""LLaVA-OneVision (``llava-hf/llava-onevision-qwen2-{0.5b,7b}-ov-hf``): a **placeholder** model with **anyres**
tiling and a Qwen2 language model.

The processor expands the prompt's ``<image>`` to as many image tokens as the model makes features of that image:
a base view of the whole image ((crop / patch)² = 729 for 384 px and patch 14, ``num_image_tokens``) plus the tiles
of the grid pinpoint that best fits the image's size, unpadded back to the image's aspect ratio, one
``image_newline`` per feature row, and pooled down to at most 9 tiles' worth (``vision_aspect_ratio``
"anyres_max_9"). The count therefore depends on the image's size (a 384 x 384 image: 729 + 27 x 27 + 27 = 1485; a
640 x 480 COCO image: 729 + 40 x 54 + 40 = 2929), not on the config alone: :meth:`expected_image_tokens` is None and
the count is not checked at load (the model itself checks every batch: features and image tokens must match). What
keeps it stable is the processor config (crop size, pinpoints, ``num_image_tokens``, ``vision_aspect_ratio``, filled
from the model's config where missing) and each image's own size: the same image always gets the same tokens.
``pixel_values`` are 5-D, (images, tiles, C, H, W), each row padded with all-zero tiles to the batch's most tiles,
with ``image_sizes`` (the original sizes) beside them.

- **None**: the prompt's ids with the ``<image>`` token dropped, read by the language model alone (no pixels), as
  for LLaVA.
- **Unk**: Qwen2's tokenizer has no ``<unk>`` token (``unk_token`` None), so the probe feeds one
  ``<|endoftext|>`` (:data:`UNK_STAND_IN`) in place of the ``<image>`` token: one token, as LLaVA's Unk is one
  ``<unk>`` for the one placeholder (not one per image token, which would tie the probe to an image's size), and
  ``<|endoftext|>`` because it is the tokenizer's own content-free token (its pad token and Qwen2's document
  separator), the nearest thing to a token that means "nothing here". A tokenizer that does have ``<unk>`` gets it.
- **Zero / One**: a blank image of the processor's crop size (:meth:`blank_image`, 384 x 384 for the real
  checkpoints): it fills exactly one tile, so its tokens are the base view plus a 1 x 1 grid (1485 for the real
  ones), fixed by the processor config alone and the same for every question; a real image of another size gets
  another count (2929 for 640 x 480), so Zero / One carry fewer image tokens than the question's image.
- **Noise**: each image's real tiles noised with its seed (:meth:`map_images`), the padding tiles left as they are,
  so an image's noise does not depend on the batch it is in.
- **Prefix cache**: applies (``shares_prefix``): the image's tokens depend on the image alone, not on the text, so
  the prompt up to the last image token is computed once per image; the prefixes of images of different sizes differ
  in length and are left-padded (``scoring.prefix.prefix_logits``). Positions are 1-D (the default cumulative mask).

transformers' ``LlavaOnevisionProcessor`` also builds a video processor, which needs torchvision (not a dependency
here): :class:`LlavaOnevisionImageProcessor` is the same processor without it, built from the same repo files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from PIL import Image
from transformers import LlavaOnevisionProcessor, PreTrainedConfig, ProcessorMixin

from lvlm_debias.models.families.base import Family

#: the token the Unk probe feeds when the tokenizer has no ``<unk>`` (Qwen2's content-free end-of-text / pad token)
UNK_STAND_IN = "<|endoftext|>"


class LlavaOnevisionImageProcessor(LlavaOnevisionProcessor):
    """``LlavaOnevisionProcessor`` for images only: no video processor (transformers' needs torchvision), so it loads
    from a repo's files with the image processor and tokenizer alone. Prompts and images are processed as by the
    original; a ``<video>`` input is not supported."""

    def __init__(
        self,
        image_processor=None,
        tokenizer=None,
        num_image_tokens=None,
        vision_feature_select_strategy=None,
        chat_template=None,
        image_token="<image>",
        video_token="<video>",
        vision_aspect_ratio="anyres_max_9",
        **kwargs,
    ):
        super().__init__(
            image_processor,
            tokenizer,
            None,
            num_image_tokens=num_image_tokens,
            vision_feature_select_strategy=vision_feature_select_strategy,
            chat_template=chat_template,
            image_token=image_token,
            video_token=video_token,
            vision_aspect_ratio=vision_aspect_ratio,
            **kwargs,
        )


def real_tiles(image: torch.Tensor) -> int:
    """Tiles of one image's row of the 5-D pixel tensor (tiles, C, H, W) before the batch's padding: the processor
    pads a row with all-zero tiles (``_pad_for_batching``), and a real tile is never all zero (normalised uint8
    pixels never equal the mean exactly: 0.5 lies between 127/255 and 128/255)."""
    nonzero = image.flatten(1).ne(0).any(-1).nonzero()
    return int(nonzero.max()) + 1 if len(nonzero) else image.shape[0]


class LlavaOnevision(Family):
    model_type = "llava_onevision"
    processor_class = LlavaOnevisionImageProcessor
    shares_prefix = True

    def expected_image_tokens(self, config: PreTrainedConfig) -> int | None:
        """None: under anyres the count depends on each image's size (base (crop / patch)² + the unpadded tiles +
        one newline per row, pooled to 9 tiles at most), not on the config alone."""
        return None

    def fill_processor(self, processor: ProcessorMixin, config: PreTrainedConfig, saved: Mapping) -> dict[str, object]:
        """``num_image_tokens`` ((image_size / patch_size)², the base view's features: 729 for SigLIP at 384 / 14),
        ``vision_feature_select_strategy`` and ``vision_aspect_ratio`` (the model's), where the saved config lacks
        them."""
        filled: dict[str, object] = {}
        if saved.get("num_image_tokens") is None:
            filled["num_image_tokens"] = (config.vision_config.image_size // config.vision_config.patch_size) ** 2
        if saved.get("vision_feature_select_strategy") is None:
            filled["vision_feature_select_strategy"] = config.vision_feature_select_strategy
        if saved.get("vision_aspect_ratio") is None:
            filled["vision_aspect_ratio"] = config.vision_aspect_ratio
        return filled

    def unk_token_id(self, processor: ProcessorMixin) -> int:
        """The tokenizer's ``<unk>`` if it has one, else :data:`UNK_STAND_IN` (``<|endoftext|>``: Qwen2's tokenizer
        has no ``<unk>``); a tokenizer with neither fails, naming both."""
        tokenizer = processor.tokenizer
        if tokenizer.unk_token_id is not None:
            return tokenizer.unk_token_id
        token_id = tokenizer.convert_tokens_to_ids(UNK_STAND_IN)
        if token_id is None:
            raise ValueError(
                f"{type(tokenizer).__name__} has neither <unk> nor {UNK_STAND_IN!r}: the Unk probe has nothing to feed"
            )
        return token_id

    def blank_image(self, processor: ProcessorMixin) -> Image.Image:
        """A black image of the processor's crop size (384 x 384 for the real checkpoints): one tile plus the base
        view, a count fixed by the processor config (see the module docstring)."""
        size = processor.image_processor.size
        return Image.new("RGB", (size["width"], size["height"]))

    def map_images(
        self,
        pixels: torch.Tensor,
        fn: Callable[[int, torch.Tensor], torch.Tensor],
        inputs: Mapping[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Row ``i`` of the 5-D (images, tiles, C, H, W) tensor is image ``i``: ``fn`` maps its real tiles
        (:func:`real_tiles`), the batch's padding tiles stay. A 4-D tensor is one image per row (the default)."""
        if pixels.dim() != 5:
            return super().map_images(pixels, fn, inputs)
        out = pixels.clone()
        for i, image in enumerate(pixels):
            n = real_tiles(image)
            out[i, :n] = fn(i, image[:n])
        return out
