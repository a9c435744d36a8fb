"""ICD (decoding.icd): the disturbed prompts, the first step against the disturbed branch's logits on a tiny LLaVA,
alpha 0 as naive decoding, and a bad instruction named."""

import pytest
import torch
from test_probes import _image

from lvlm_debias.decoding.base import DecodingParameters, GenerationBatch
from lvlm_debias.decoding.decode import generate_texts
from lvlm_debias.decoding.icd import disturbed_prompts
from lvlm_debias.decoding.methods import DECODING_METHODS
from lvlm_debias.decoding.sampling import DecodingConfig
from lvlm_debias.decoding.vdd import contrast
from lvlm_debias.inputs.probes import probe_inputs
from lvlm_debias.models.prompts import LLAVA_HF, build_prompt
from lvlm_debias.scoring.score import next_token_logits

PROMPTS = [build_prompt(LLAVA_HF, "Describe the image."), build_prompt(LLAVA_HF, "Is there a star in the image?")]
GREEDY = DecodingConfig(do_sample=False)


def test_the_instruction_goes_before_the_question():
    assert disturbed_prompts(["USER: <image>\nHi? ASSISTANT:", "<image>Hi?"], "You are confused.") == [
        "USER: <image>\nYou are confused. Hi? ASSISTANT:",
        "<image>You are confused. Hi?",
    ]
    with pytest.raises(ValueError, match="has no <image> placeholder"):
        disturbed_prompts(["Hi?"], "You are confused.")


def test_first_step_contrasts_with_the_same_image_under_the_instruction(tiny_llava):
    model, processor = tiny_llava
    images = [_image(0), _image(1)]
    parameters = DecodingParameters(1.0, 0.1, icd_instruction="You are a confused object detector.")
    (icd,) = DECODING_METHODS["icd"].logits_processors(GenerationBatch(model, processor, PROMPTS, images), parameters)
    naive = next_token_logits(model, probe_inputs(processor, PROMPTS, "naive", images))
    disturbed = disturbed_prompts(PROMPTS, parameters.icd_instruction)
    reference = next_token_logits(model, probe_inputs(processor, disturbed, "naive", images))
    assert not torch.allclose(reference, naive)  # the instruction changes the branch's logits
    out = icd(torch.zeros(2, 1, dtype=torch.long), naive.clone())
    torch.testing.assert_close(out, contrast(naive, reference, 1.0, 0.1), atol=1e-5, rtol=1e-5)


def _texts(tiny_llava, method, alpha, beta):
    model, processor = tiny_llava
    n = 4
    prompt = PROMPTS[0]
    return generate_texts(
        model, processor, [prompt] * n, [_image(i) for i in range(n)], [f"{i}.png" for i in range(n)], method,
        GREEDY, DecodingParameters(alpha, beta), max_new_tokens=6, batch_size=2, seed=0,
    )  # fmt: skip


def test_alpha_zero_without_a_cut_is_naive_decoding(tiny_llava):
    assert _texts(tiny_llava, "icd", 0.0, 1e-9) == _texts(tiny_llava, "naive", 0.0, 1e-9)


def test_a_blank_instruction_is_named():
    with pytest.raises(ValueError, match="icd_instruction must be a non-empty text, got ' '"):
        DecodingParameters(1.0, 0.1, icd_instruction=" ")
    assert DecodingParameters(1.0, 0.1).icd_instruction == "You are a confused object detector."
