"""M3ID (decoding.m3id): the weight and the scores by hand, the step count, the image-free branch on a tiny LLaVA, and
lambda 0 as naive decoding."""

import math

import pytest
import torch
from test_probes import _image

from lvlm_debias.decoding.base import DecodingParameters, GenerationBatch
from lvlm_debias.decoding.decode import generate_texts
from lvlm_debias.decoding.m3id import m3id_scores, m3id_weight
from lvlm_debias.decoding.methods import DECODING_METHODS
from lvlm_debias.decoding.processors import M3IDLogitsProcessor
from lvlm_debias.decoding.sampling import DecodingConfig
from lvlm_debias.inputs.probes import probe_inputs
from lvlm_debias.models.prompts import LLAVA_HF, build_prompt
from lvlm_debias.scoring.score import next_token_logits

PROMPT = build_prompt(LLAVA_HF, "Describe the image.")
GREEDY = DecodingConfig(do_sample=False)


def test_weight_is_exp_lambda_t_minus_one():
    # (1 - gamma) / gamma with gamma = exp(-0.02 t)
    assert m3id_weight(1, 0.02) == pytest.approx((1 - math.exp(-0.02)) / math.exp(-0.02))
    assert m3id_weight(10, 0.02) == pytest.approx(math.exp(0.2) - 1)
    assert m3id_weight(50, 0.0) == 0.0


def test_scores_by_hand():
    # l_c = log [0.75, 0.25], l_u = log [0.5, 0.5]; lambda ln 2 at t = 1: weight 1, s = 2 l_c - l_u
    logits = torch.log(torch.tensor([[3.0, 1.0]]))
    scores = m3id_scores(logits, torch.zeros(1, 2), 1, math.log(2))
    torch.testing.assert_close(scores, torch.log(torch.tensor([[1.125, 0.125]])))
    with pytest.raises(ValueError, match="differ in shape"):
        m3id_scores(logits, torch.zeros(1, 3), 1, 0.02)


class _Branch:
    """A stand-in image-free branch: uniform logits at every step, recording the tokens it is given."""

    def __init__(self):
        self.seen = []

    def next_logits(self, new_tokens):
        self.seen.append(None if new_tokens is None else new_tokens.tolist())
        return torch.zeros(1, 2)


def test_processor_counts_the_steps_from_one():
    branch = _Branch()
    processor = M3IDLogitsProcessor(branch, math.log(2))
    logits = torch.log(torch.tensor([[3.0, 1.0]]))
    lc = torch.log_softmax(logits, -1)
    lu = torch.log(torch.tensor([[0.5, 0.5]]))
    for step, ids in enumerate([[[1]], [[1, 7]], [[1, 7, 4]]], start=1):
        out = processor(torch.tensor(ids), logits)
        torch.testing.assert_close(out, lc + (2**step - 1) * (lc - lu))  # weight exp(step ln 2) - 1
    assert branch.seen == [None, [7], [4]]


def test_bad_lambda_is_named():
    with pytest.raises(ValueError, match="m3id_lambda must be a finite number >= 0, got -0.1"):
        DecodingParameters(1.0, 0.1, -0.1)
    assert DecodingParameters(1.0, 0.1).m3id_lambda == 0.02  # the schema's default


def test_first_step_contrasts_with_the_image_free_input(tiny_llava):
    model, processor = tiny_llava
    prompts = [PROMPT, build_prompt(LLAVA_HF, "Is there a star in the image?")]
    images = [_image(0), _image(1)]
    batch = GenerationBatch(model, processor, prompts, images)
    parameters = DecodingParameters(1.0, 0.1, 0.5)
    (m3id,) = DECODING_METHODS["m3id"].logits_processors(batch, parameters)
    naive = next_token_logits(model, probe_inputs(processor, prompts, "naive", images))
    none = next_token_logits(model, probe_inputs(processor, prompts, "none"))
    out = m3id(torch.zeros(2, 1, dtype=torch.long), naive)
    torch.testing.assert_close(out, m3id_scores(naive, none, 1, 0.5), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(out, torch.log_softmax(naive, -1))


def _texts(tiny_llava, method, lam):
    model, processor = tiny_llava
    n = 4
    return generate_texts(
        model, processor, [PROMPT] * n, [_image(i) for i in range(n)], [f"{i}.png" for i in range(n)], method,
        GREEDY, DecodingParameters(1.0, 0.1, lam), max_new_tokens=6, batch_size=2, seed=0,
    )  # fmt: skip


def test_lambda_zero_is_naive_decoding_token_for_token(tiny_llava):
    assert _texts(tiny_llava, "m3id", 0.0) == _texts(tiny_llava, "naive", 0.0)
