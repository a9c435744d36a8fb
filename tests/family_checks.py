"""Checks every model family's tiny checkpoint runs, shared by the family test modules (test_instructblip,
test_llava_onevision, test_smolvlm, test_qwen2_5_vl): each is called by a test there with the family's model,
processor, prompts and images."""

import pandas as pd
import torch
from conftest import schema_defaults

from lvlm_debias.decoding.base import DecodingParameters, GenerationBatch
from lvlm_debias.decoding.decode import decode_with_entry
from lvlm_debias.decoding.methods import DECODING_METHODS
from lvlm_debias.decoding.processors import ReferenceBranch, reference_inputs
from lvlm_debias.decoding.sampling import DecodingConfig
from lvlm_debias.inputs.probes import PROBES, left_pad, probe_inputs
from lvlm_debias.scoring.attention import attention_with_entry
from lvlm_debias.scoring.cache import references_with_entry, score_shard_with_entry
from lvlm_debias.scoring.first_token import FirstTokenSpec
from lvlm_debias.scoring.score import YES_NO, next_token_logits


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


def library_entry_points_run(
    folder, entry, tmp_path, questions, *, reference="vdd-none", attention_probes=("naive", "none")
):
    """What the scoring, generation and attention jobs call, with the checkpoint ``folder`` and a config ``entry``,
    on ``questions`` (four, yes and no): every probe scored (image probes by shard, text probes as references), naive,
    the contrastive ``reference`` method, VCD and OPERA decoded, and attention under ``attention_probes`` split into
    groups that sum to 1. Returns the scoring shard, its pass counts and the per-layer attention table for the
    family's own checks."""
    splits = {"random": questions}
    common = dict(labels=YES_NO, top_k=20, batch_size=3, seed=0)
    image_probes = [name for name, probe in PROBES.items() if probe.per_image]
    shard, _, passes, _ = score_shard_with_entry(
        folder, entry, splits, tmp_path, shard=0, shards=1, probes=image_probes, store=FirstTokenSpec(20),
        logits=False, **common,
    )  # fmt: skip
    text_probes = [p for p in PROBES if p not in image_probes]
    refs, _ = references_with_entry(folder, entry, splits, tmp_path, probes=text_probes, **common)
    scores = pd.concat([shard, refs], ignore_index=True)
    assert set(scores["probe"]) == set(PROBES) and len(scores) == len(questions) * len(PROBES)
    total = scores[["p_yes", "p_no"]].sum(axis=1)
    assert total.between(0, 1 + 1e-6).all() and scores.groupby("probe")["p_yes"].nunique().gt(0).all()
    methods = ["naive", reference, "vcd", "opera"]
    decoding = {"methods": methods, "alpha": 1.0, "beta": 0.1, "opera": {"beams": 2, "candidates": 3}}
    texts = decode_with_entry(
        folder, entry, questions, tmp_path, "default", decoding, sweep={}, summary=None, benchmark="pope",
        max_new_tokens=3, batch_size=4, seed=0,
    )  # fmt: skip
    assert texts.groupby("method").size().to_dict() == {m: len(questions) for m in methods}
    probes = list(attention_probes)
    layers, _, _, _, _, captions = attention_with_entry(
        folder, entry, questions, tmp_path,
        schema_defaults("attention", {"n_samples": len(questions), "probes": probes, "max_new_tokens": 3}),
    )  # fmt: skip
    shares = layers.groupby(["probe", "layer"])["share"].sum()
    assert shares.round(5).eq(1).all() and set(layers["probe"]) == set(probes)
    assert len(captions) == len(set(q["image"] for q in questions))
    return shard, passes, layers
