"""A tiny LLaVA-OneVision checkpoint (real transformers classes, random weights) saved to a folder as the hub's
``llava-hf/llava-onevision-qwen2-*-ov-hf`` repos are: SigLIP vision tower, anyres tiling over a 6 x 6 grid of
pinpoints, ``image_newline``, Qwen2 language model, and a Qwen2-like tokenizer (no ``<unk>``, no BOS).

The layout copies what the llava-hf OneVision repos hold, as far as it could be checked (the hub was not reachable
from here; this follows transformers 5.24's conversion script ``convert_llava_onevision_weights_to_hf.py`` and the
processor defaults): ``preprocessor_config.json`` names ``LlavaOnevisionImageProcessor`` and ``LlavaOnevisionProcessor``
with ``image_grid_pinpoints`` the multiples (1..6) of the crop size, SigLIP's mean / std 0.5, ``do_pad`` true;
``processor_config.json`` has ``num_image_tokens`` ((crop / patch)², 729 for the real 384 px / 14), ``vision_feature_
select_strategy`` "full", ``vision_aspect_ratio`` "anyres_max_9"; the chat template is in ``chat_template.json``
(unconfirmed: newer uploads may hold a ``chat_template.jinja`` instead).
"""

import json
import string
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models
from transformers import (
    LlavaOnevisionConfig,
    LlavaOnevisionForConditionalGeneration,
    PreTrainedTokenizerFast,
    Qwen2Config,
    SiglipVisionConfig,
)
from transformers.models.llava_onevision.image_processing_pil_llava_onevision import LlavaOnevisionImageProcessorPil

from lvlm_debias.embedded.corpus import vocabulary_texts
from lvlm_debias.embedded.tokenizer import _PRE_TOKENIZER, words
from lvlm_debias.models.families.llava_onevision import LlavaOnevisionImageProcessor

#: the Qwen-1.5 conversation LLaVA-OneVision was trained with (LLaVA-NeXT's ``conv_qwen_1_5``), the image first
TEMPLATE = (
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<image>\n{question}<|im_end|>\n"
    "<|im_start|>assistant\n"
)
#: the vision tower's input (the crop size) and its patch: (16 / 4)² = 16 features per tile (729 for 384 / 14)
IMAGE_SIZE, PATCH_SIZE = 16, 4
#: the real repos' pinpoints, scaled: (a x IMAGE_SIZE, b x IMAGE_SIZE) for a, b in 1..6
PINPOINTS = [[a * IMAGE_SIZE, b * IMAGE_SIZE] for a in range(1, 7) for b in range(1, 7)]
#: Qwen2's special tokens as the OneVision tokenizer has them: <|endoftext|> pads, <|im_end|> ends a turn
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>")
#: hub-style chat template (the llava-hf OneVision one, as transformers' conversion script writes it)
CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + ' '}}{% for content in message['content'] "
    "| selectattr('type', 'equalto', 'image') %}{{ '<image>' }}{% endfor %}{% for content in message['content'] "
    "| selectattr('type', 'equalto', 'text') %}{{ '\\n' + content['text'] }}{% endfor %}{{'<|im_end|>\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def qwen_like_tokenizer(texts) -> PreTrainedTokenizerFast:
    """A word-level tokenizer with Qwen2's special tokens and none of LLaMA's: no ``<unk>`` (unk_token None, as the
    real Qwen2 tokenizer; a word outside the corpus is spelt in characters), no BOS (nothing is prepended),
    ``<|endoftext|>`` the pad token, ``<|im_end|>`` the EOS."""
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    chars = [c for c in string.printable if not c.isspace()]
    for word in [*words(texts), *chars, *(f"##{c}" for c in chars)]:
        if word not in vocab:
            vocab[word] = len(vocab)
    # whole words of the corpus, any other ASCII word spelt in characters (as Qwen2's byte-level BPE never fails):
    # the unk token WordPiece asks for is never used and is no token of the vocabulary
    backend = Tokenizer(models.WordPiece(vocab, unk_token="<never-used>"))
    backend.pre_tokenizer = _PRE_TOKENIZER
    backend.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>", "<image>", "<video>"],
    )


def save_tiny_llava_onevision(folder: Path, shapes, colours, seed: int = 0) -> Path:
    """Write the checkpoint, tokenizer and processor to ``folder`` and return it."""
    tokenizer = qwen_like_tokenizer(vocabulary_texts(shapes, colours, [TEMPLATE]))
    assert tokenizer.unk_token_id is None and tokenizer("yes")["input_ids"] == [tokenizer.convert_tokens_to_ids("yes")]
    hidden = 32
    vision = SiglipVisionConfig(
        image_size=IMAGE_SIZE, patch_size=PATCH_SIZE, hidden_size=hidden, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2,
    )  # fmt: skip
    text = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096, tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=None, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    config = LlavaOnevisionConfig(
        vision_config=vision.to_dict(),
        text_config=text.to_dict(),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        video_token_index=tokenizer.convert_tokens_to_ids("<video>"),
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        vision_aspect_ratio="anyres_max_9",
        image_grid_pinpoints=PINPOINTS,
    )
    torch.manual_seed(seed)
    model = LlavaOnevisionForConditionalGeneration(config)
    with torch.no_grad():  # transformers' init (std 0.02) leaves the answer nearly blind to the image
        for name, weight in model.named_parameters():
            if "norm" not in name.lower():
                weight.normal_(0.0, 0.2)
    image_processor = LlavaOnevisionImageProcessorPil(
        size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}, image_grid_pinpoints=PINPOINTS, do_pad=True,
        image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5],
    )  # fmt: skip
    processor = LlavaOnevisionImageProcessor(  # transformers' class without its video processor (torchvision)
        image_processor=image_processor,
        tokenizer=tokenizer,
        num_image_tokens=(IMAGE_SIZE // PATCH_SIZE) ** 2,
        vision_feature_select_strategy="full",
        vision_aspect_ratio="anyres_max_9",
        chat_template=CHAT_TEMPLATE,
    )
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    _as_on_the_hub(folder)
    return folder


def _as_on_the_hub(folder: Path) -> None:
    """The hub repos' layout where ``save_pretrained`` differs: the processor named ``LlavaOnevisionProcessor`` and
    the image processor ``LlavaOnevisionImageProcessor``, as the repo's files name them (without torchvision
    transformers picks the PIL backend), and the chat template in ``chat_template.json`` (unconfirmed for the newest
    uploads, see the module docstring)."""
    path = folder / "processor_config.json"
    saved = json.loads(path.read_text())
    path.write_text(json.dumps({**saved, "processor_class": "LlavaOnevisionProcessor"}, indent=2))
    path = folder / "preprocessor_config.json"
    if path.exists():
        saved = json.loads(path.read_text())
        saved["image_processor_type"] = "LlavaOnevisionImageProcessor"
        saved["processor_class"] = "LlavaOnevisionProcessor"
        path.write_text(json.dumps(saved, indent=2))
    jinja = folder / "chat_template.jinja"
    if jinja.exists():
        (folder / "chat_template.json").write_text(json.dumps({"chat_template": jinja.read_text()}, indent=2))
        jinja.unlink()
