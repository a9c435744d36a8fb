"""The embedded model's pieces: tokenizer, spec, answer encoding and learning-rate schedule."""

import pytest

from lvlm_debias.embedded.tiny_llava import TinyLlavaSpec
from lvlm_debias.embedded.tokenizer import build_tokenizer
from lvlm_debias.embedded.train import encode, learning_rate, right_pad
from lvlm_debias.models.prompts import LLAVA_HF, build_prompt, without_image


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer([build_prompt(LLAVA_HF, "Is there a star in the image?"), "Yes", "No"])


def test_tokenizer_special_tokens_as_llama(tokenizer):
    assert tokenizer.convert_tokens_to_ids("<unk>") == 0 == tokenizer.unk_token_id
    ids = tokenizer("USER: hello")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and tokenizer.unk_token_id in ids  # unknown word -> <unk>
    assert tokenizer.decode(tokenizer("Is there a star?", add_special_tokens=False)["input_ids"]) == "Is there a star?"


def test_encode_scores_only_the_answer(tokenizer):
    prompt = build_prompt(LLAVA_HF, "Is there a star in the image?")
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    ids, labels = encode(tokenizer, prompt, "Yes", image_id=image_id, image_tokens=4)
    assert ids.count(image_id) == 4
    scored = [t for t in labels if t != -100]
    assert scored == [tokenizer.convert_tokens_to_ids("Yes"), tokenizer.eos_token_id]
    assert labels[: len(ids) - 2] == [-100] * (len(ids) - 2)
    ids, _ = encode(tokenizer, without_image(prompt), "No")
    assert image_id not in ids


def test_right_pad_masks_padding(tokenizer):
    batch = right_pad([([5, 6, 7], [-100, 6, 7]), ([5], [5])], pad_id=3)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [5, 3, 3]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [5, -100, -100]]


def test_learning_rate_warms_up_then_decays_to_a_tenth():
    steps, peak = 100, 1e-3
    assert learning_rate(0, steps, peak, 0.1) == pytest.approx(1e-4)
    assert learning_rate(9, steps, peak, 0.1) == pytest.approx(1e-3)
    assert learning_rate(10, steps, peak, 0.1) == pytest.approx(1e-3)
    assert learning_rate(100, steps, peak, 0.1) == pytest.approx(1e-4)
    values = [learning_rate(i, steps, peak, 0.1) for i in range(10, 100)]
    assert values == sorted(values, reverse=True)


def test_spec_rejects_unknown_keys():
    # 64 / 16 = 4 patches a side: 16 patch tokens, plus the CLS token with the "full" strategy (the default here)
    assert TinyLlavaSpec.from_dict({"patch_size": 16}).image_tokens == 17
    assert TinyLlavaSpec.from_dict({"patch_size": 16, "vision_feature_select_strategy": "default"}).image_tokens == 16
    with pytest.raises(ValueError, match="vision_feature_select_strategy"):
        TinyLlavaSpec.from_dict({"vision_feature_select_strategy": "cls"})
    with pytest.raises(ValueError, match=r"unknown architecture keys \['layers'\]"):
        TinyLlavaSpec.from_dict({"layers": 3})
