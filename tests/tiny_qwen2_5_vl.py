"""A tiny Qwen2.5-VL checkpoint (real transformers classes, random weights) saved to a folder as a downloaded one is:
a windowed ViT with 2 x 2 patch merging, a Qwen2 language model with M-RoPE, its tokenizer, image processor and chat
template.

The files follow the hub repo ``Qwen/Qwen2.5-VL-7B-Instruct`` where they differ from ``save_pretrained``: no
``processor_config.json`` (transformers 5 writes one, with the image processor's ``size`` dict inside);
``preprocessor_config.json`` with the hub's flat ``min_pixels`` / ``max_pixels`` keys, ``image_processor_type``
``Qwen2VLImageProcessor`` and ``processor_class`` ``Qwen2_5_VLProcessor``; the chat template as a
``chat_template.json``. Based on the real repo's defaults as quoted in public code (min_pixels 3136, max_pixels
12845056, patch 14, temporal patch 2, merge 2, CLIP's mean / std); the files themselves were not seen here, so the
exact ``image_processor_type`` string, the full chat template and the absence of ``processor_config.json`` are
unconfirmed. Unlike the real repo, the tiny one fixes ``min_pixels == max_pixels`` (one pixel budget: every square
image gives the same grid and image-token count; the family pins the real one's the same way).

The tokenizer is word-level, trained locally, with Qwen's special tokens and, like Qwen's, **no** ``<unk>`` token and
no BOS. Qwen's byte-level BPE encodes every text; here a word outside the vocabulary becomes the plain word
:data:`OUT_OF_VOCABULARY`, which the tokenizer does not name as its unknown token (``unk_token_id`` stays None).
"""

import json
from pathlib import Path

import torch
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    PreTrainedTokenizerFast,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
)
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from lvlm_debias.embedded.corpus import vocabulary_texts
from lvlm_debias.models.families.qwen2_5_vl import Qwen25VLImageProcessor

#: the Qwen2.5-VL chat prompt (its chat template with the default system message), the image marked with <image>,
#: which the family expands to <|vision_start|><|image_pad|><|vision_end|>
TEMPLATE = (
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<image>{question} Please answer "
    "this question with one word.<|im_end|>\n<|im_start|>assistant\n"
)
#: Qwen2's special tokens that the family and the template use, in the real vocabulary's order (151643...)
SPECIAL = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
           "<|image_pad|>", "<|video_pad|>")  # fmt: skip
PATCH, MERGE = 4, 2
#: the tiny processor's fixed pixel budget (min_pixels == max_pixels): a square image becomes 32 x 32 pixels, an
#: 8 x 8 patch grid, 4 x 4 = 16 image tokens after the 2 x 2 merge
PIXELS = 32 * 32
IMAGE_TOKENS = (32 // PATCH // MERGE) ** 2
#: the real chat template's image branch, reduced to single-image messages (unconfirmed copy of the hub's)
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a "
    "helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}{% if content['type'] == "
    "'image' %}<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] == 'text' %}{{ content['text'] }}"
    "{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% endif %}"
)

#: the word every word outside the vocabulary encodes to (the workflow asks about words the corpus lacks, e.g. "heart")
OUT_OF_VOCABULARY = "something"

_PRE_TOKENIZER = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])


def build_qwen_tokenizer(texts) -> PreTrainedTokenizerFast:
    """Word-level tokenizer: ``SPECIAL`` (matched whole, before pre-tokenising), :data:`OUT_OF_VOCABULARY`, then the
    words of ``texts``; no ``<unk>``, no BOS, ``<|endoftext|>`` pads and ``<|im_end|>`` ends, as in Qwen2.5-VL's
    tokenizer config."""
    vocab = {token: i for i, token in enumerate(SPECIAL)} | {OUT_OF_VOCABULARY: len(SPECIAL)}
    for text in texts:
        for word, _ in _PRE_TOKENIZER.pre_tokenize_str(text):
            vocab.setdefault(word, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab, unk_token=OUT_OF_VOCABULARY))
    backend.pre_tokenizer = _PRE_TOKENIZER
    backend.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL])
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>")


def save_tiny_qwen2_5_vl(folder: Path, shapes, colours, seed: int = 0) -> Path:
    """Write the checkpoint and processor to ``folder`` (in the hub repo's layout) and return it."""
    tokenizer = build_qwen_tokenizer(vocabulary_texts(shapes, colours, [TEMPLATE]))
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL}
    hidden = 32
    config = Qwen2_5_VLConfig(
        vision_config=dict(
            depth=2, hidden_size=hidden, intermediate_size=64, num_heads=2, patch_size=PATCH, spatial_merge_size=MERGE,
            temporal_patch_size=2, window_size=PATCH * MERGE * 2, out_hidden_size=hidden, fullatt_block_indexes=[1],
        ),
        text_config=dict(
            vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
            bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
        ),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        vision_token_id=ids["<|vision_pad|>"],
    )  # fmt: skip
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config)
    with torch.no_grad():  # transformers' init (std 0.02) leaves the answer nearly blind to the image
        for name, weight in model.named_parameters():
            if "norm" not in name.lower():
                weight.normal_(0.0, 0.2)
    image_processor = Qwen2VLImageProcessorPil(
        size={"shortest_edge": PIXELS, "longest_edge": PIXELS}, patch_size=PATCH, temporal_patch_size=2,
        merge_size=MERGE,
    )  # fmt: skip
    processor = Qwen25VLImageProcessor(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE
    )
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    # the hub repo has no processor_config.json (the image processor's settings live in preprocessor_config.json)
    # and its tokenizer_config.json names the stock processor class
    (folder / "processor_config.json").unlink(missing_ok=True)
    saved = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**saved, "processor_class": "Qwen2_5_VLProcessor"}))
    if not (folder / "chat_template.json").exists():  # the hub's file (transformers 5 writes a .jinja)
        (folder / "chat_template.json").write_text(json.dumps({"chat_template": CHAT_TEMPLATE}, indent=2))
        (folder / "chat_template.jinja").unlink(missing_ok=True)
    (folder / "preprocessor_config.json").write_text(json.dumps({  # the hub's flat keys
        "min_pixels": PIXELS, "max_pixels": PIXELS, "patch_size": PATCH, "temporal_patch_size": 2, "merge_size": MERGE,
        "image_mean": list(image_processor.image_mean), "image_std": list(image_processor.image_std),
        "image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen2_5_VLProcessor",
    }, indent=2))  # fmt: skip
    return folder
