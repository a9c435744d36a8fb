"""The embedded model: a real ``LlavaForConditionalGeneration`` (CLIP vision tower + Llama) small enough for a CPU."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lvlm_debias.settings import from_section, schema_default

if TYPE_CHECKING:  # annotations only: the spec is checked at every parse of the Snakefile (config.check_config)
    from transformers import LlavaForConditionalGeneration, LlavaProcessor, PreTrainedTokenizerFast


@dataclass(frozen=True)
class TinyLlavaSpec:
    """Sizes of the embedded model; every field has a key under ``models.<name>.architecture`` in the config."""

    image_size: int = schema_default("world.image_size")  # the world's images, as check_config requires
    patch_size: int = 8
    vision_hidden: int = 64
    vision_layers: int = 2
    vision_heads: int = 4
    vision_initializer_factor: float = 4.0
    text_hidden: int = 128
    text_layers: int = 2
    text_heads: int = 4
    max_positions: int = 256
    vision_feature_select_strategy: str = "full"

    def __post_init__(self) -> None:
        if self.vision_feature_select_strategy not in ("default", "full"):
            raise ValueError(
                "architecture.vision_feature_select_strategy must be 'default' (CLS dropped, as LLaVA-1.5) or 'full' "
                f"(CLS kept), got {self.vision_feature_select_strategy!r}"
            )

    @classmethod
    def from_dict(cls, values: dict) -> TinyLlavaSpec:
        return from_section(cls, values, "architecture")

    @property
    def image_tokens(self) -> int:
        """Image tokens per image in the language model's input (CLS dropped, as LLaVA-1.5 does, unless "full")."""
        return (self.image_size // self.patch_size) ** 2 + (self.vision_feature_select_strategy == "full")


def build_processor(spec: TinyLlavaSpec, tokenizer: PreTrainedTokenizerFast) -> LlavaProcessor:
    """A ``LlavaProcessor`` with a CLIP image processor at the spec's resolution (CLIP mean/std, as LLaVA-1.5)."""
    from transformers import CLIPImageProcessor, LlavaProcessor

    image_processor = CLIPImageProcessor(
        size={"shortest_edge": spec.image_size},
        crop_size={"height": spec.image_size, "width": spec.image_size},
    )
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=spec.patch_size,
        vision_feature_select_strategy=spec.vision_feature_select_strategy,
        num_additional_image_tokens=1,
    )


def build_model(spec: TinyLlavaSpec, tokenizer: PreTrainedTokenizerFast) -> LlavaForConditionalGeneration:
    """A randomly initialised LLaVA whose vocabulary is the tokenizer's (call ``torch.manual_seed`` first)."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    vision = CLIPVisionConfig(
        image_size=spec.image_size,
        patch_size=spec.patch_size,
        hidden_size=spec.vision_hidden,
        intermediate_size=4 * spec.vision_hidden,
        num_hidden_layers=spec.vision_layers,
        num_attention_heads=spec.vision_heads,
        projection_dim=spec.vision_hidden,
        initializer_factor=float(spec.vision_initializer_factor),
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.text_hidden,
        intermediate_size=4 * spec.text_hidden,
        num_hidden_layers=spec.text_layers,
        num_attention_heads=spec.text_heads,
        num_key_value_heads=spec.text_heads,
        max_position_embeddings=spec.max_positions,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-1,
        vision_feature_select_strategy=spec.vision_feature_select_strategy,
        projector_hidden_act="gelu",
    )
    return LlavaForConditionalGeneration(config)
