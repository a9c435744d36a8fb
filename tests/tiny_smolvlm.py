"""A tiny SmolVLM / Idefics3 checkpoint (real transformers classes, random weights) saved to a folder, as a downloaded
one is: SigLIP-style vision encoder, pixel-shuffle connector, Llama language model, and its processor.

``HuggingFaceTB/SmolVLM-256M-Instruct`` is an ``idefics3`` checkpoint (``Idefics3ForConditionalGeneration``,
``Idefics3Processor``); the SmolVLM2 repos are ``smolvlm`` ones (``SmolVLMForConditionalGeneration``,
``SmolVLMProcessor``). Both models are built here; the processor is always an ``Idefics3Processor``, because
``SmolVLMProcessor`` cannot be built in this environment (it needs ``num2words`` and, for its video processor,
``torchvision``: neither is a dependency). For one image without splitting both processors write the same string,
``<fake_token_around_image><global-img>`` + ``<image>`` × ``image_seq_len`` + ``<fake_token_around_image>``
(``_prompt_single_image`` in transformers' ``processing_smolvlm.py``, ``Idefics3Processor.replace_image_token``).

The processor files copy the layout of ``HuggingFaceTB/SmolVLM-256M-Instruct`` as remembered, not confirmed against
the hub (no network here): ``preprocessor_config.json`` with ``do_image_splitting: true`` (the family switches it
off at load), ``max_image_size.longest_edge`` equal to the vision tower's ``image_size`` (512 there) and ``size``
4 × that (2048 there); ``processor_config.json`` with ``image_seq_len`` (64 there) and ``processor_class``
``Idefics3Processor``.
"""

import json
from pathlib import Path

import torch
from transformers import (
    AddedToken,
    Idefics3Config,
    Idefics3ForConditionalGeneration,
    Idefics3ImageProcessorPil,
    Idefics3Processor,
    Idefics3VisionConfig,
    LlamaConfig,
    SmolVLMConfig,
    SmolVLMForConditionalGeneration,
)

from lvlm_debias.embedded.corpus import vocabulary_texts
from lvlm_debias.embedded.tokenizer import build_tokenizer

#: the SmolVLM-Instruct chat layout ("<|im_start|>User:<image>...<end_of_utterance>\nAssistant:"), the image first
TEMPLATE = "User:<image>{question} Answer with one word.<end_of_utterance>\nAssistant:"
IMAGE_SIZE = 48
PATCH_SIZE = 8
SCALE_FACTOR = 2
#: image tokens per image: (48 / 8)² / 2² = 9
IMAGE_TOKENS = (IMAGE_SIZE // PATCH_SIZE) ** 2 // SCALE_FACTOR**2
#: the tokens the processor wraps an unsplit image in (``<end_of_utterance>`` ends a turn)
WRAPPERS = ("<fake_token_around_image>", "<global-img>", "<end_of_utterance>")
MODELS = {"idefics3": (Idefics3Config, Idefics3ForConditionalGeneration),
          "smolvlm": (SmolVLMConfig, SmolVLMForConditionalGeneration)}  # fmt: skip


def save_tiny_smolvlm(folder: Path, shapes, colours, model_type: str = "idefics3", seed: int = 0) -> Path:
    """Write the checkpoint (an ``idefics3`` or ``smolvlm`` one) and its processor to ``folder`` and return it."""
    tokenizer = build_tokenizer(vocabulary_texts(shapes, colours, [TEMPLATE.replace("<end_of_utterance>", " ")]))
    tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in WRAPPERS], special_tokens=True)
    hidden = 32
    vision = Idefics3VisionConfig(
        image_size=IMAGE_SIZE, patch_size=PATCH_SIZE, hidden_size=hidden, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2,
    )  # fmt: skip
    text = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    config_class, model_class = MODELS[model_type]
    config = config_class(
        vision_config=vision.to_dict(),
        text_config=text.to_dict(),
        scale_factor=SCALE_FACTOR,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = model_class(config)
    with torch.no_grad():  # transformers' init (std 0.02) leaves the answer nearly blind to the image
        for name, weight in model.named_parameters():
            if "norm" not in name.lower():
                weight.normal_(0.0, 0.2)
    image_processor = Idefics3ImageProcessorPil(
        do_image_splitting=True,
        max_image_size={"longest_edge": IMAGE_SIZE},
        size={"longest_edge": 4 * IMAGE_SIZE},
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        resample=1,
    )
    processor = Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer, image_seq_len=IMAGE_TOKENS)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    # the hub's layout (transformers 4.x wrote it): the image processor's settings in preprocessor_config.json, the
    # processor's own (image_seq_len) in processor_config.json; transformers 5 nests the first into the second
    nested = json.loads((folder / "processor_config.json").read_text())
    image_settings = {**nested.pop("image_processor"), "processor_class": nested["processor_class"]}
    (folder / "preprocessor_config.json").write_text(json.dumps(image_settings, indent=2))
    (folder / "processor_config.json").write_text(json.dumps(nested, indent=2))
    return folder
