"""Checks every model family's tiny checkpoint runs, shared by the family test modules (test_instructblip,
test_llava_onevision, test_smolvlm, test_qwen2_5_vl): each is called by a test there with the family's model,
processor, prompts and images."""

import torch

from lvlm_debias.decoding.base import DecodingParameters, GenerationBatch
from lvlm_debias.decoding.methods import DECODING_METHODS
from lvlm_debias.decoding.sampling import DecodingConfig
from lvlm_debias.decoding.vdd import ReferenceBranch, reference_inputs
from lvlm_debias.inputs.probes import left_pad, probe_inputs
from lvlm_debias.scoring.score import next_token_logits


def reference_branch_matches_full_forward(model, processor, prompts, images, reference, steps=([5, 9], [7, 3])):
    """A VDD/VCD reference branch's cached steps equal full forward passes of the grown prompts (1e-4): first the
    prompt itself, then each of ``steps`` (one new token per prompt) appended."""
    inputs = reference_inputs(processor, prompts, reference, images, [5, 6])
    branch = ReferenceBranch(model, dict(inputs))
    torch.testing.assert_close(branch.next_logits(None), next_token_logits(model, inputs), atol=1e-5, rtol=1e-5)
    rows = [ids[m.bool()].tolist() for ids, m in zip(inputs["input_ids"], inputs["attention_mask"], strict=True)]
    for new in steps:
        rows = [row + [t] for row, t in zip(rows, new, strict=True)]
        stepped = branch.next_logits(torch.tensor(new))
        full = {**inputs, **left_pad(rows, processor.tokenizer.pad_token_id)}
        torch.testing.assert_close(stepped, next_token_logits(model, full), atol=1e-4, rtol=1e-4)


def alpha_zero_reproduces_greedy(model, processor, prompts, images, method):
    """A contrastive ``method`` at alpha 0 decodes exactly as plain greedy decoding, and at alpha 5 with no cut
    differently (so the processor is really applied)."""
    inputs = probe_inputs(processor, prompts, "naive", images)
    config = DecodingConfig(do_sample=False)

    def generate(extra):
        out = model.generate(**inputs, max_new_tokens=5, pad_token_id=processor.tokenizer.pad_token_id, **extra)
        return out[:, inputs["input_ids"].shape[1] :].tolist()

    batch = GenerationBatch(model, processor, prompts, images, [1, 2])
    kwargs = DECODING_METHODS[method].generate_kwargs(batch, config, DecodingParameters(alpha=0.0, beta=0.1))
    assert generate(kwargs) == generate(config.generate_kwargs())
    contrasted = DECODING_METHODS[method].generate_kwargs(batch, config, DecodingParameters(alpha=5.0, beta=1e-9))
    assert generate(contrasted) != generate(config.generate_kwargs())
