"""SmolVLM and its base Idefics3: **placeholder** models whose processor wraps the image's tokens.

``HuggingFaceTB/SmolVLM-256M-Instruct`` (and -500M, -Instruct) are ``idefics3`` checkpoints
(``Idefics3ForConditionalGeneration``, ``Idefics3Processor``); the SmolVLM2 repos are ``smolvlm`` ones
(``SmolVLMForConditionalGeneration``, ``SmolVLMProcessor``, which also needs ``num2words`` and, for its video
processor, ``torchvision``). The two share the model layout and, for one image, the prompt: the processor replaces the
prompt's ``<image>`` placeholder by

    <fake_token_around_image> <global-img> <image> × image_seq_len <fake_token_around_image>

and the model fills the ``<image>`` positions with the connector's output (SigLIP patches, pixel-shuffled by
``scale_factor``): ``image_seq_len = (image_size / patch_size)² / scale_factor²`` (64 for SmolVLM-256M's 512 px,
patch 16, scale 4).

**What is fixed so the image-token count is stable.** With ``do_image_splitting`` on (the repos' default) the
processor cuts an image into up to ``(size / max_image_size)²`` tiles plus the global image, each tile another
``<fake_token_around_image><row_i_col_j>`` + ``image_seq_len`` tokens: the count, and the tiles' row/col tokens, would
follow each image's size. The family switches splitting off at load (:meth:`Idefics3.prepare_processor`): every image
is then resized to ``max_image_size`` × ``max_image_size`` (its aspect ratio not kept), exactly one vision-encoder
tile, so every image gives ``image_seq_len`` image tokens, no row/col tokens, pixel values (N, 1, C, H, W) and an
all-ones ``pixel_attention_mask``. Loading checks ``max_image_size`` against the vision tower's ``image_size``
(:meth:`Idefics3.fill_processor`). For SmolVLM-256M-Instruct that is one 512 × 512 image, 64 image tokens per prompt
(instead of up to 17 × 64 with splitting): a lower-resolution view than the model card's default.

**None** feeds the prompt's token ids without the placeholder: the language model reads the text alone, and since the
wrapper tokens exist only in the processor's expansion of the placeholder, they go with it (no
``<fake_token_around_image>`` or ``<global-img>`` is left for an image that is not there). **Unk** puts one ``<unk>``
where the placeholder was, also without the wrappers: the same single token as for LLaVA and InstructBLIP (the paper's
"unknown image" token), not ``image_seq_len`` of them, so the three families' Unk probes mean the same thing. The
SmolVLM tokenizers name ``<|endoftext|>`` as their unk token (not confirmed against the hub here).

**Zero**: the model drops an image whose pixel tensor is all exactly 0 as *padding* (``get_image_features``), which
the Zero probe's processed-pixel zeros would be, and then has fewer image features than image tokens. The family's
:meth:`Idefics3.to_device` therefore sets one value of such an image to the dtype's smallest normal number
(``torch.finfo(dtype).tiny``: 1.2e-38 in float32 / bfloat16, 6.1e-5 in float16), which changes no logit beyond
rounding; with one image per prompt and no splitting no image of a batch is padding.

**The prefix cache applies** (``shares_prefix``): the image's tokens do not depend on the text. The prefix ends at
the last ``<image>`` token; the closing ``<fake_token_around_image>`` opens every question's suffix. Positions are
the plain ones of a left-padded batch (a Llama language model, 1-D RoPE). In the attention analysis the opening
wrappers count as system tokens and the closing one as a question token (the image group is the ``<image>`` tokens).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from transformers import Idefics3Processor, PreTrainedConfig, PreTrainedModel, ProcessorMixin, SmolVLMProcessor

from lvlm_debias.models.families.base import Family


class Idefics3(Family):
    model_type = "idefics3"
    processor_class = Idefics3Processor
    shares_prefix = True

    def expected_image_tokens(self, config: PreTrainedConfig) -> int | None:
        """``(image_size / patch_size)² / scale_factor²`` per (unsplit) image: 64 for SmolVLM-256M (512, 16, 4)."""
        vision = config.vision_config
        return (vision.image_size // vision.patch_size) ** 2 // config.scale_factor**2

    def fill_processor(self, processor: ProcessorMixin, config: PreTrainedConfig, saved: Mapping) -> dict[str, object]:
        """``image_seq_len`` (the model's :meth:`expected_image_tokens`) where the saved config lacks it. A processor
        whose ``max_image_size`` is not the vision tower's ``image_size`` fails: without splitting every image is
        resized to it, and the tower would give another number of patches than the prompt has image tokens."""
        side = processor.image_processor.max_image_size.get("longest_edge")
        if side != config.vision_config.image_size:
            raise ValueError(
                f"the image processor's max_image_size {processor.image_processor.max_image_size} is not the vision "
                f"tower's image_size {config.vision_config.image_size}: set max_image_size.longest_edge to "
                f"{config.vision_config.image_size} in the repo's preprocessor_config.json"
            )
        return {"image_seq_len": self.expected_image_tokens(config)} if saved.get("image_seq_len") is None else {}

    def prepare_processor(self, processor: ProcessorMixin) -> None:
        """Image splitting off: every image becomes one ``max_image_size`` square (the module docstring)."""
        processor.image_processor.do_image_splitting = False

    def to_device(self, model: PreTrainedModel, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The default, and an all-zero image (the Zero probe) marked real: its first value set to
        ``finfo(dtype).tiny``, since the model drops all-zero images as padding (the module docstring)."""
        batch = super().to_device(model, inputs)
        pixels = batch.get("pixel_values")
        if pixels is not None:
            flat = pixels.reshape(pixels.shape[0] * pixels.shape[1], -1)
            blank = ~flat.ne(0).any(-1)
            if bool(blank.any()):
                flat = flat.clone()
                flat[blank, 0] = torch.finfo(flat.dtype).tiny
                batch["pixel_values"] = flat.reshape(pixels.shape)
        return batch


class SmolVlm(Idefics3):
    """SmolVLM2 (``smolvlm``): Idefics3's layout and prompt for one image; only the processor class differs."""

    model_type = "smolvlm"
    processor_class = SmolVLMProcessor
