"""Probe inputs and batched first-position scoring on a real (untrained) LlavaForConditionalGeneration."""

import numpy as np
import pytest
import torch
from PIL import Image

from lvlm_debias.inputs.probes import CONTENT_FREE, Probe, image_token_id, probe_inputs, probe_prompt, text_probe_ids
from lvlm_debias.models.prompts import LLAVA_HF, build_prompt
from lvlm_debias.scoring.prior import top_answers
from lvlm_debias.scoring.score import YES_NO, next_token_logits, score_prompts, score_questions

PROMPTS = [
    build_prompt(LLAVA_HF, "Is there a circle in the image?"),
    build_prompt(LLAVA_HF, "What colour is the star?"),
]
#: the paper's probes (the registry also holds VCD's reference, vcd-noise)
PAPER_PROBES = ["naive", "none", "unk", "noise", "zero", "one"]


def _image(seed: int, size: int = 32) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8))


def test_text_probe_ids_drop_or_replace_the_image_token():
    assert text_probe_ids([1, 7, 4, 9], "none", image_id=4, unk_id=0) == [1, 7, 9]
    assert text_probe_ids([1, 7, 4, 9], "unk", image_id=4, unk_id=0) == [1, 7, 0, 9]
    with pytest.raises(ValueError, match="not a text probe"):
        text_probe_ids([1], "naive", image_id=4, unk_id=0)


def test_probe_inputs_per_probe(tiny_llava, tiny_spec):
    _, processor = tiny_llava
    image_id = image_token_id(processor)
    plain = processor.tokenizer(PROMPTS[0])["input_ids"]
    naive = probe_inputs(processor, PROMPTS[:1], "naive", [_image(0)])
    assert (naive["input_ids"] == image_id).sum() == tiny_spec.image_tokens
    assert naive["pixel_values"].shape == (1, 3, 32, 32)
    none = probe_inputs(processor, PROMPTS[:1], "none")
    assert none["input_ids"][0].tolist() == [t for t in plain if t != image_id]
    unk = probe_inputs(processor, PROMPTS[:1], "unk")
    assert unk["input_ids"][0].tolist() == [processor.tokenizer.unk_token_id if t == image_id else t for t in plain]
    with pytest.raises(ValueError, match="unknown probe 'noisy'"):
        probe_inputs(processor, PROMPTS, "noisy")


@pytest.mark.parametrize("probe", ["naive", "none", "unk", "zero"])
def test_left_padding_does_not_change_the_answer_position(tiny_llava, probe):
    """A short prompt batched with a longer one gets the same next-token logits as alone (position ids follow
    the attention mask)."""
    model, processor = tiny_llava
    images = [_image(1), _image(2)] if probe == "naive" else None
    both = next_token_logits(model, probe_inputs(processor, PROMPTS, probe, images))
    for i in range(2):
        alone = next_token_logits(
            model, probe_inputs(processor, PROMPTS[i : i + 1], probe, images and images[i : i + 1])
        )
        torch.testing.assert_close(both[i], alone[0], atol=1e-5, rtol=1e-4)


def test_batch_size_does_not_change_scores(tiny_llava):
    model, processor = tiny_llava
    images = [_image(i) for i in range(5)]
    prompts = [PROMPTS[i % 2] for i in range(5)]
    one, _ = score_prompts(model, processor, prompts, "naive", YES_NO, images=images, batch_size=1, top_k=100)
    many, _ = score_prompts(model, processor, prompts, "naive", YES_NO, images=images, batch_size=4, top_k=100)
    torch.testing.assert_close(one, many, atol=1e-6, rtol=1e-5)


def test_text_references_are_computed_once_per_distinct_prompt(tiny_llava, tmp_path):
    model, processor = tiny_llava
    questions = []
    for i in range(6):
        _image(i).save(tmp_path / f"{i}.png")
        obj = ["circle", "star"][i % 2]
        questions.append(
            {"question_id": i, "image": f"{i}.png", "text": f"Is there a {obj} in the image?", "label": "yes"}
        )
    scores, _, passes = score_questions(
        model,
        processor,
        questions,
        tmp_path,
        template=LLAVA_HF,
        labels=YES_NO,
        probes=PAPER_PROBES,
        top_k=100,
        batch_size=32,
    )
    # naive and noise depend on the image: once per question; the other four once per distinct prompt
    assert passes == {"naive": 6, "none": 2, "unk": 2, "noise": 6, "zero": 2, "one": 2}
    assert len(scores) == 36 and set(scores.columns) == {"question_id", "probe", "label", "p_yes", "p_no"}
    prompts = [build_prompt(LLAVA_HF, q["text"]) for q in questions]
    for probe in ("none", "zero"):
        cached = scores[scores.probe == probe].set_index("question_id")
        direct, _ = score_prompts(model, processor, prompts, probe, YES_NO, top_k=100, batch_size=32)
        np.testing.assert_allclose(cached[["p_yes", "p_no"]].to_numpy(), direct.numpy(), atol=1e-6)


def test_zero_and_one_do_not_depend_on_the_image_and_noise_is_seeded(tiny_llava, tmp_path):
    model, processor = tiny_llava
    prompt = [build_prompt(LLAVA_HF, "Is there a star in the image?")]
    for probe in ("zero", "one"):
        a, _ = score_prompts(model, processor, prompt, probe, YES_NO, images=[_image(1)], top_k=100, batch_size=32)
        b, _ = score_prompts(model, processor, prompt, probe, YES_NO, images=[_image(2)], top_k=100, batch_size=32)
        torch.testing.assert_close(a, b)
    same = [
        score_prompts(
            model, processor, prompt, "noise", YES_NO, images=[_image(1)], noise_seeds=[s], top_k=100, batch_size=32
        )[0]
        for s in (3, 3, 4)
    ]
    torch.testing.assert_close(same[0], same[1])
    assert not torch.allclose(same[0], same[2])


def test_pixel_probes_replace_the_processed_tensor(tiny_llava, tiny_spec):
    _, processor = tiny_llava
    zero = probe_inputs(processor, PROMPTS[:1], "zero")
    one = probe_inputs(processor, PROMPTS[:1], "one")
    assert (zero["pixel_values"] == 0).all() and (one["pixel_values"] == 1).all()
    assert (zero["input_ids"] == image_token_id(processor)).sum() == tiny_spec.image_tokens
    naive = probe_inputs(processor, PROMPTS[:1], "naive", [_image(0)])
    noise = probe_inputs(processor, PROMPTS[:1], "noise", [_image(0)], noise_seeds=[7])
    assert noise["pixel_values"].shape == naive["pixel_values"].shape
    assert not torch.allclose(noise["pixel_values"], naive["pixel_values"])
    with pytest.raises(ValueError, match="one noise seed per image"):
        probe_inputs(processor, PROMPTS[:1], "noise", [_image(0)])


def test_a_missing_image_names_the_file_and_question(tiny_llava, tmp_path):
    model, processor = tiny_llava
    questions = [{"question_id": 7, "image": "gone.png", "text": "Is there a star in the image?", "label": "no"}]
    with pytest.raises(ValueError, match=r"gone\.png of question 7"):
        score_questions(
            model,
            processor,
            questions,
            tmp_path,
            template=LLAVA_HF,
            labels=YES_NO,
            probes=PAPER_PROBES,
            top_k=100,
            batch_size=32,
        )


def test_the_na_probe_asks_the_content_free_text_once_per_template_without_the_image(tiny_llava, tmp_path):
    """Contextual calibration's input (Zhao et al. 2021): "N/A" in place of every question, no image tokens, so one
    forward pass serves every question; its probabilities are those of that one prompt scored directly."""
    model, processor = tiny_llava
    questions = []
    for i in range(4):
        _image(i).save(tmp_path / f"{i}.png")
        text = ["Is there a circle in the image?", "Is there a star?"][i % 2]
        questions.append({"question_id": i, "image": f"{i}.png", "text": text, "label": "yes"})
    assert probe_prompt(LLAVA_HF, "Is there a star?", "na") == build_prompt(LLAVA_HF, CONTENT_FREE)
    assert probe_prompt(LLAVA_HF, "Is there a star?", "none") == build_prompt(LLAVA_HF, "Is there a star?")
    scores, _, passes = score_questions(
        model, processor, questions, tmp_path, template=LLAVA_HF, labels=YES_NO, probes=["none", "na"], top_k=100,
        batch_size=8,
    )  # fmt: skip
    assert passes == {"none": 2, "na": 1}
    na = scores[scores.probe == "na"][["p_yes", "p_no"]].to_numpy()
    prompt = build_prompt(LLAVA_HF, CONTENT_FREE)
    direct, _ = score_prompts(model, processor, [prompt], "na", YES_NO, top_k=100, batch_size=1)
    np.testing.assert_allclose(na, np.repeat(direct.numpy(), 4, axis=0), atol=1e-6)
    none = scores[scores.probe == "none"][["p_yes", "p_no"]].to_numpy()
    assert not np.allclose(none[0], na[0])  # the question's words move the answer: na is not None
    fed = probe_inputs(processor, [build_prompt(LLAVA_HF, CONTENT_FREE)], "na")["input_ids"][0].tolist()
    assert image_token_id(processor) not in fed and "pixel_values" not in probe_inputs(processor, PROMPTS[:1], "na")


def test_only_a_text_probe_replaces_the_question_and_prior_probing_refuses_it(tiny_llava):
    with pytest.raises(ValueError, match="only a text probe replaces the question"):
        Probe("bad", "pixel", pixels=lambda p, s, m: p, question="N/A")
    with pytest.raises(ValueError, match="only a text probe replaces the question"):
        Probe("blank", "text", ids=lambda ids, i, u: list(ids), question=" ")
    model, processor = tiny_llava
    with pytest.raises(ValueError, match=r"probes \['na'\] ask a content-free text"):
        top_answers(model, processor, PROMPTS[0], _image(0), ["naive", "na"], top=3)
