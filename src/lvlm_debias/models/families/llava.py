"""LLaVA (LLaVA-1.5, every ``llava-hf`` checkpoint, the embedded ShapesWorld model): a **placeholder** model.

The prompt holds the ``<image>`` placeholder where the image goes; the processor expands it to one token per image
feature, and the model runs with or without ``pixel_values`` (without them it is the language model alone: the None
and Unk probes). The image's tokens do not depend on the text, so the prefix up to the image can be shared.
"""

from __future__ import annotations

from collections.abc import Mapping

from transformers import LlavaProcessor, PreTrainedConfig, ProcessorMixin

from lvlm_debias.models.families.base import Family

#: tokens a vision tower puts before its patch features (CLIP's CLS token), by ``vision_config.model_type``
EXTRA_VISION_TOKENS = {"clip_vision_model": 1, "siglip_vision_model": 0}


def extra_vision_tokens(config: PreTrainedConfig) -> int | None:
    """Tokens the vision tower outputs besides one per patch (1 for CLIP's CLS), or None for a tower not known."""
    vision = getattr(config, "vision_config", None)
    return EXTRA_VISION_TOKENS.get(getattr(vision, "model_type", None))


class Llava(Family):
    model_type = "llava"
    processor_class = LlavaProcessor
    shares_prefix = True

    def expected_image_tokens(self, config: PreTrainedConfig) -> int | None:
        """``(image_size / patch_size)² + extra − (1 if vision_feature_select_strategy == "default")``, ``extra`` the
        vision tower's CLS tokens (1 for CLIP: 576 for LLaVA-1.5's 336 px, patch 14, "default"); None for a vision
        tower not in :data:`EXTRA_VISION_TOKENS`."""
        extra = extra_vision_tokens(config)
        if extra is None:
            return None
        vision = config.vision_config
        default = config.vision_feature_select_strategy == "default"
        return (vision.image_size // vision.patch_size) ** 2 + extra - default

    def fill_processor(self, processor: ProcessorMixin, config: PreTrainedConfig, saved: Mapping) -> dict[str, object]:
        """``patch_size`` (the vision tower's), ``vision_feature_select_strategy`` (the model's) and
        ``num_additional_image_tokens`` (the tower's CLS tokens: 1 for CLIP), where the saved config lacks them."""
        filled: dict[str, object] = {}
        if saved.get("patch_size") is None:
            filled["patch_size"] = config.vision_config.patch_size
        if saved.get("vision_feature_select_strategy") is None:
            filled["vision_feature_select_strategy"] = config.vision_feature_select_strategy
        if saved.get("num_additional_image_tokens") is None and extra_vision_tokens(config) is not None:
            filled["num_additional_image_tokens"] = extra_vision_tokens(config)
        return filled
