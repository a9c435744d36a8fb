"""The decoding-method registry: the schema's enums equal its keys, the contrast checks its arguments once, and toy
decoding methods registered in a few lines (undone after) run through generation (``decode_records``, the path the
workflow's generation jobs take) on the tiny LLaVA."""

import math
from dataclasses import dataclass

import pytest
import torch
import yaml
from conftest import ROOT
from test_probes import _image
from transformers import LogitsProcessor

from lvlm_debias.analysis.contrast_grid import GRID_METHODS
from lvlm_debias.decoding import processors, vdd
from lvlm_debias.decoding.base import DecodingMethod, DecodingParameters, GenerationBatch
from lvlm_debias.decoding.decode import decode_records
from lvlm_debias.decoding.methods import DECODING_METHODS, decoding_method
from lvlm_debias.decoding.processors import ContrastLogitsProcessor, ReferenceBranch, reference_inputs
from lvlm_debias.decoding.sampling import DecodingConfig
from lvlm_debias.inputs.probes import probe_inputs
from lvlm_debias.models.prompts import LLAVA_HF, build_prompt
from lvlm_debias.scoring.official import CONTRASTS
from lvlm_debias.scoring.score import next_token_logits

SCHEMA = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())["properties"]
GREEDY = DecodingConfig(do_sample=False)
QUESTION = "Describe the image."
N = 4


def test_schema_enums_are_the_registry_keys():
    """generation.methods lists the registry's decoding methods in its order; the official reading's contrast and the
    first-token grid list the contrastive ones the logit cache can derive (scoring.store's references)."""
    methods = SCHEMA["generation"]["properties"]["methods"]
    assert methods["items"]["enum"] == list(DECODING_METHODS)
    assert [m for m in DECODING_METHODS if m in methods["default"]] == methods["default"]
    assert SCHEMA["scoring"]["properties"]["official"]["properties"]["contrast"]["enum"] == list(CONTRASTS)
    grid = SCHEMA["contrast_grid"]["properties"]["methods"]
    assert grid["items"]["enum"] == list(GRID_METHODS) == ["vdd-none", "vdd-unk", "vdd-both"]
    assert CONTRASTS == {"none": (), **{m: DECODING_METHODS[m].references for m in GRID_METHODS}}


def test_registry_owns_each_methods_references():
    assert {m: DECODING_METHODS[m].references for m in DECODING_METHODS} == {
        "naive": (), "vcd": ("vcd-noise",), "vdd-none": ("none",), "vdd-unk": ("unk",), "vdd-both": ("none", "unk"),
        "m3id": ("none",), "icd": (), "beam": (), "opera": (),
    }  # fmt: skip
    with pytest.raises(ValueError, match="unknown decoding method 'dola'; known: \\['naive', 'vcd'"):
        decoding_method("dola")
    with pytest.raises(ValueError, match="needs references among"):
        vdd.ContrastiveDecoding(references=("noise",))


class _Branch:
    """A stand-in reference branch: zero logits for every step."""

    def next_logits(self, new_tokens):
        return torch.zeros(2, 5)


def test_the_contrast_checks_alpha_and_beta_once_not_at_every_step(monkeypatch):
    """Checked to fail with the processor calling the checked ``contrast`` at each step."""
    calls = []
    for module in (vdd, processors):
        monkeypatch.setattr(module, "check_alpha_beta", lambda alpha, beta: calls.append((alpha, beta)))
    processor = ContrastLogitsProcessor([_Branch()], alpha=1.0, beta=0.5)
    scores = torch.tensor([[2.0, 1.0, 0.0, -1.0, -5.0]] * 2)
    for step in range(3):
        out = processor(torch.zeros(2, 4 + step, dtype=torch.long), scores.clone())
    assert calls == [(1.0, 0.5)]
    # 2 l - 0, and -inf below log(0.5) + 2 = 1.31
    assert out[0].tolist() == [4.0, -math.inf, -math.inf, -math.inf, -math.inf]


# --- toy decoding methods, each a few lines, registered for one test -----------------------------------------------


class BanTokens(LogitsProcessor):
    """Scores of ``tokens`` set to -inf: they are never generated."""

    def __init__(self, tokens: list[int]) -> None:
        self.tokens = list(tokens)

    def __call__(self, input_ids, scores):
        return scores.index_fill(-1, torch.tensor(self.tokens, device=scores.device), -math.inf)


@dataclass(frozen=True)
class Ban(DecodingMethod):
    """Naive decoding that never generates ``tokens``."""

    tokens: tuple[int, ...] = ()

    def logits_processors(self, batch, parameters):
        return [BanTokens(list(self.tokens))]


@dataclass(frozen=True)
class UnkAtFixedWeight(DecodingMethod):
    """A contrast with the Unk branch at a fixed weight, whatever ``generation.alpha`` says."""

    references: tuple[str, ...] = ("unk",)
    weight: float = 3.0

    def logits_processors(self, batch, parameters):
        branch = ReferenceBranch(batch.model, reference_inputs(batch.processor, batch.prompts, "unk"))
        return [ContrastLogitsProcessor([branch], alpha=self.weight, beta=parameters.beta)]


@dataclass(frozen=True)
class Constant(DecodingMethod):
    """Not a logits processor: overrides ``generate`` itself (as OPERA's beam search will), answering ``token``
    twice."""

    token: int = 5

    def generate(self, batch, inputs, kwargs, max_new_tokens):
        ids = inputs["input_ids"]
        return torch.cat([ids, torch.full((len(ids), 2), self.token, dtype=ids.dtype, device=ids.device)], dim=1)


@pytest.fixture()
def records(tmp_path):
    for i in range(N):
        _image(i).save(tmp_path / f"{i}.png")
    return [{"question_id": i, "image": f"{i}.png", "text": QUESTION} for i in range(N)]


def _decode(tiny_llava, records, image_root, methods, alpha=1.0, beta=1e-6):
    model, processor = tiny_llava
    frame = decode_records(
        model, processor, records, image_root, LLAVA_HF, methods, "default", GREEDY, DecodingParameters(alpha, beta),
        max_new_tokens=5, batch_size=3, seed=0,
    )  # fmt: skip
    return {m: rows["text"].tolist() for m, rows in frame.groupby("method", sort=False)}


def test_a_registered_token_ban_runs_through_generation_and_is_undone(tiny_llava, records, tmp_path, monkeypatch):
    """Banning the token naive greedy decoding starts each answer with changes every answer; unregistered after."""
    model, processor = tiny_llava
    prompts = [build_prompt(LLAVA_HF, QUESTION)] * N
    first = next_token_logits(model, probe_inputs(processor, prompts, "naive", [_image(i) for i in range(N)]))
    banned = sorted(set(first.argmax(-1).tolist()))
    monkeypatch.setitem(DECODING_METHODS, "toy-ban", Ban(tokens=tuple(banned)))
    texts = _decode(tiny_llava, records, tmp_path, ["naive", "toy-ban"])
    assert len(texts["toy-ban"]) == N
    assert all(ban != naive for ban, naive in zip(texts["toy-ban"], texts["naive"], strict=True))
    monkeypatch.undo()
    assert "toy-ban" not in DECODING_METHODS
    with pytest.raises(ValueError, match="unknown decoding method 'toy-ban'"):
        _decode(tiny_llava, records, tmp_path, ["toy-ban"])


def test_a_registered_fixed_weight_unk_contrast_is_vdd_unk_at_that_alpha(tiny_llava, records, tmp_path, monkeypatch):
    """The toy's fixed weight 3 gives VDD-Unk's texts at alpha 3 (not at the configured alpha 1), unlike naive's."""
    monkeypatch.setitem(DECODING_METHODS, "toy-unk", UnkAtFixedWeight(weight=3.0))
    toy = _decode(tiny_llava, records, tmp_path, ["naive", "toy-unk"], alpha=1.0)
    assert toy["toy-unk"] == _decode(tiny_llava, records, tmp_path, ["vdd-unk"], alpha=3.0)["vdd-unk"]
    assert toy["toy-unk"] != toy["naive"]
    assert toy["toy-unk"] != _decode(tiny_llava, records, tmp_path, ["vdd-unk"], alpha=1.0)["vdd-unk"]


def test_a_method_that_overrides_generate_gives_its_own_ids(tiny_llava, records, tmp_path, monkeypatch):
    """The hook for a decoding method that is not a logits processor: its ids are what the texts decode."""
    _, processor = tiny_llava
    monkeypatch.setitem(DECODING_METHODS, "toy-constant", Constant(token=5))
    texts = _decode(tiny_llava, records, tmp_path, ["toy-constant"])["toy-constant"]
    assert texts == [processor.tokenizer.decode([5, 5], skip_special_tokens=True).strip()] * N
    assert texts[0]  # token 5 is a word, so the check sees the hook's ids


def test_generation_batch_reaches_the_method(tiny_llava):
    """A method sees the batch it decodes: its prompts, images and one noise seed per image."""
    seen = []

    @dataclass(frozen=True)
    class Spy(DecodingMethod):
        def logits_processors(self, batch: GenerationBatch, parameters):
            seen.append((len(batch.prompts), len(batch.images), len(batch.noise_seeds), parameters.alpha))
            return []

    model, processor = tiny_llava
    from lvlm_debias.decoding.decode import generate_texts

    DECODING_METHODS["toy-spy"] = Spy()
    try:
        generate_texts(
            model, processor, [build_prompt(LLAVA_HF, QUESTION)] * 3, [_image(i) for i in range(3)],
            ["0.png", "1.png", "2.png"], "toy-spy", GREEDY, DecodingParameters(2.0, 0.1), max_new_tokens=2,
            batch_size=2, seed=0,
        )  # fmt: skip
    finally:
        del DECODING_METHODS["toy-spy"]
    assert seen == [(2, 2, 2, 2.0), (1, 1, 1, 2.0)]
