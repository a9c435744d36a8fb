"""A tiny InstructBLIP checkpoint (real transformers classes, random weights) saved to a folder, as a downloaded one
is: vision encoder, Q-Former with ``num_query_tokens`` queries, Llama language model, and its processor."""

from pathlib import Path

import torch
from transformers import (
    BlipImageProcessor,
    InstructBlipConfig,
    InstructBlipForConditionalGeneration,
    InstructBlipProcessor,
    InstructBlipQFormerConfig,
    InstructBlipVisionConfig,
    LlamaConfig,
)

from lvlm_debias.embedded.corpus import vocabulary_texts
from lvlm_debias.embedded.tokenizer import build_tokenizer

#: the InstructBLIP prompt of the paper config: the image first, then the question
TEMPLATE = "<image>{question} Please answer this question with one word."
QUERY_TOKENS = 4
IMAGE_SIZE = 32


def save_tiny_instructblip(folder: Path, shapes, colours, seed: int = 0) -> Path:
    """Write the checkpoint and processor to ``folder`` and return it. The tokenizer names ``<image>`` as its image
    token (as the embedded model's does), so loading also covers the processor's string-token case."""
    tokenizer = build_tokenizer(vocabulary_texts(shapes, colours, [TEMPLATE]))
    hidden = 32
    vision = InstructBlipVisionConfig(
        image_size=IMAGE_SIZE, patch_size=8, hidden_size=hidden, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2,
    )  # fmt: skip
    qformer = InstructBlipQFormerConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, encoder_hidden_size=hidden, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    text = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    config = InstructBlipConfig(
        vision_config=vision.to_dict(),
        qformer_config=qformer.to_dict(),
        text_config=text.to_dict(),
        num_query_tokens=QUERY_TOKENS,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
    )
    torch.manual_seed(seed)
    model = InstructBlipForConditionalGeneration(config)
    with torch.no_grad():  # transformers' init (zero query tokens, std 0.02) leaves the answer blind to the image
        for name, weight in model.named_parameters():
            if "norm" not in name.lower():
                weight.normal_(0.0, 0.2)
    processor = InstructBlipProcessor(
        image_processor=BlipImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}),
        tokenizer=tokenizer,
        qformer_tokenizer=tokenizer,
        num_query_tokens=QUERY_TOKENS,
    )
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
