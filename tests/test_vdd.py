"""VDD and VCD: the contrast formula by hand, the reference branches' KV caches, and the processors inside generate."""

import math

import pytest
import torch
from test_probes import _image

from lvlm_debias.decoding.base import DecodingParameters, GenerationBatch
from lvlm_debias.decoding.methods import DECODING_METHODS
from lvlm_debias.decoding.processors import ContrastLogitsProcessor, ReferenceBranch, reference_inputs
from lvlm_debias.decoding.sampling import DecodingConfig, warpers
from lvlm_debias.decoding.vdd import contrast
from lvlm_debias.inputs.noise import VCD_STEP, diffusion_noise
from lvlm_debias.inputs.probes import left_pad, probe_inputs
from lvlm_debias.models.prompts import LLAVA_HF, build_prompt
from lvlm_debias.scoring.score import next_token_logits

PROMPTS = [build_prompt(LLAVA_HF, "Is there a star in the image?"), build_prompt(LLAVA_HF, "What colour is it?")]


def test_contrast_by_hand():
    logits = torch.tensor([[2.0, 1.0, -3.0]])
    ref = torch.tensor([[1.0, 1.0, 0.0]])
    # cutoff log(0.1) + 2 = -0.30: the third token is implausible
    assert contrast(logits, ref, alpha=1.0, beta=0.1).tolist() == [[3.0, 1.0, -math.inf]]
    assert contrast(logits, ref, alpha=0.5, beta=0.1).tolist() == [[2.5, 1.0, -math.inf]]
    # beta = 1 keeps only the image branch's argmax
    assert contrast(logits, ref, alpha=1.0, beta=1.0).tolist() == [[3.0, -math.inf, -math.inf]]
    assert contrast(logits, ref, alpha=0.0, beta=1e-9).tolist() == logits.tolist()


@pytest.mark.parametrize(
    ("alpha", "beta", "message"),
    [(-0.1, 0.1, "alpha must be a finite number >= 0"), (1.0, 0.0, r"beta must lie in \(0, 1\]"),
     (1.0, 1.5, r"beta must lie in \(0, 1\]"), (math.inf, 0.1, "alpha must be")],
)  # fmt: skip
def test_bad_alpha_beta_are_named(alpha, beta, message):
    with pytest.raises(ValueError, match=message):
        contrast(torch.zeros(1, 3), torch.zeros(1, 3), alpha, beta)
    with pytest.raises(ValueError, match=message):
        ContrastLogitsProcessor([object()], alpha, beta)
    with pytest.raises(ValueError, match="differ in shape"):
        contrast(torch.zeros(1, 3), torch.zeros(1, 4), 1.0, 0.1)
    with pytest.raises(ValueError, match=message):
        DecodingParameters(alpha, beta)


def contrastive_generate_kwargs(model, processor, prompts, method, config, *, alpha, beta, images=None,
                                noise_seeds=None):  # fmt: skip
    """``generate``'s keyword arguments for decoding method ``method`` of the registry on one batch."""
    batch = GenerationBatch(model, processor, prompts, images, noise_seeds)
    return DECODING_METHODS[method].generate_kwargs(batch, config, DecodingParameters(alpha, beta))


def test_reference_branch_cache_matches_full_forward(tiny_llava):
    """Each step through the branch's KV cache gives the logits of a full forward over prompt + generated tokens."""
    model, processor = tiny_llava
    inputs = probe_inputs(processor, PROMPTS, "none")
    branch = ReferenceBranch(model, dict(inputs))
    rows = [ids[mask.bool()].tolist() for ids, mask in zip(inputs["input_ids"], inputs["attention_mask"], strict=True)]
    first = branch.next_logits(None)
    torch.testing.assert_close(first, next_token_logits(model, inputs), atol=1e-5, rtol=1e-5)
    for new in ([5, 9], [7, 3]):
        rows = [row + [t] for row, t in zip(rows, new, strict=True)]
        stepped = branch.next_logits(torch.tensor(new))
        full = next_token_logits(model, left_pad(rows, processor.tokenizer.pad_token_id))
        torch.testing.assert_close(stepped, full, atol=1e-4, rtol=1e-4)


def test_processor_contrasts_against_the_mean_of_none_and_unk(tiny_llava):
    model, processor = tiny_llava
    images = [_image(0), _image(1)]
    naive = probe_inputs(processor, PROMPTS, "naive", images)
    scores = next_token_logits(model, naive)
    none = next_token_logits(model, probe_inputs(processor, PROMPTS, "none"))
    unk = next_token_logits(model, probe_inputs(processor, PROMPTS, "unk"))
    branches = [ReferenceBranch(model, dict(probe_inputs(processor, PROMPTS, r))) for r in ("none", "unk")]
    out = ContrastLogitsProcessor(branches, alpha=1.0, beta=0.1)(naive["input_ids"], scores.clone())
    torch.testing.assert_close(out, contrast(scores, (none + unk) / 2, 1.0, 0.1))


def test_vcd_reference_is_the_image_noised_at_step_500(tiny_llava):
    _, processor = tiny_llava
    images = [_image(0), _image(1)]
    clean = probe_inputs(processor, PROMPTS, "naive", images)["pixel_values"]
    noised = reference_inputs(processor, PROMPTS, "vcd-noise", images, [11, 12])["pixel_values"]
    torch.testing.assert_close(noised[1], diffusion_noise(clean[1], VCD_STEP, 12))
    assert not torch.allclose(noised, clean)
    with pytest.raises(ValueError, match="needs the images and one noise seed per image"):
        reference_inputs(processor, PROMPTS, "vcd-noise", images)


def _generate(model, processor, extra, seed=0):
    inputs = probe_inputs(processor, PROMPTS, "naive", [_image(0), _image(1)])
    torch.manual_seed(seed)
    out = model.generate(**inputs, max_new_tokens=6, pad_token_id=processor.tokenizer.pad_token_id, **extra)
    return out[:, inputs["input_ids"].shape[1] :].tolist()


@pytest.mark.parametrize("method", ["vdd-none", "vdd-unk", "vdd-both", "vcd"])
def test_alpha_zero_reproduces_plain_decoding_token_for_token(tiny_llava, method):
    """With alpha = 0 only the plausibility cut is left: with beta small enough to cut nothing, sampling (same seed,
    temperature and top-p after the contrast) and greedy decoding are unchanged."""
    model, processor = tiny_llava
    sampled = DecodingConfig(temperature=0.7, top_p=0.9, top_k=0)
    images = [_image(0), _image(1)]
    for config, beta in ((sampled, 1e-9), (DecodingConfig(do_sample=False), 0.1)):
        plain = _generate(model, processor, config.generate_kwargs())
        kwargs = contrastive_generate_kwargs(
            model, processor, PROMPTS, method, config, alpha=0.0, beta=beta, images=images, noise_seeds=[1, 2]
        )
        assert _generate(model, processor, kwargs) == plain


def test_warpers_act_after_the_contrast_inside_generate(tiny_llava):
    model, processor = tiny_llava
    config = DecodingConfig(temperature=0.5, top_p=0.9, top_k=3)
    kwargs = contrastive_generate_kwargs(model, processor, PROMPTS, "vdd-none", config, alpha=1.0, beta=0.1)
    names = [type(p).__name__ for p in kwargs["logits_processor"]]
    assert names == ["ContrastLogitsProcessor", "TemperatureLogitsWarper", "TopKLogitsWarper", "TopPLogitsWarper"]
    inputs = probe_inputs(processor, PROMPTS, "naive", [_image(0), _image(1)])
    out = model.generate(
        **inputs,
        max_new_tokens=1,
        output_scores=True,
        return_dict_in_generate=True,
        pad_token_id=processor.tokenizer.pad_token_id,
        **kwargs,
    )
    naive = next_token_logits(model, inputs)
    none = next_token_logits(model, probe_inputs(processor, PROMPTS, "none"))
    expected = warpers(config)(inputs["input_ids"], contrast(naive, none, 1.0, 0.1))
    torch.testing.assert_close(out.scores[0], expected, atol=1e-4, rtol=1e-4)
