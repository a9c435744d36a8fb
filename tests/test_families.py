"""The model-family registry: each tiny checkpoint is told its family in one place (``models.families.family_of``),
and a family registered in a few lines is picked for its model type and its processor, and used by scoring."""

import copy
import re
from types import SimpleNamespace

import pytest
import torch
from conftest import COLOURS, SHAPES
from test_probes import _image
from tiny_instructblip import save_tiny_instructblip
from transformers import LlavaProcessor

from lvlm_debias.inputs.probes import probe_inputs
from lvlm_debias.models.families import FAMILIES, Family, UnknownFamilyError, family_of
from lvlm_debias.models.families.instructblip import InstructBlip
from lvlm_debias.models.families.llava import Llava
from lvlm_debias.models.families.llava_onevision import LlavaOnevision
from lvlm_debias.models.families.qwen2_5_vl import Qwen25VL
from lvlm_debias.models.families.smolvlm import Idefics3, SmolVlm
from lvlm_debias.models.load import load_model
from lvlm_debias.models.prompts import LLAVA_HF, build_prompt
from lvlm_debias.scoring.score import next_token_logits

PROMPTS = [build_prompt(LLAVA_HF, "Is there a circle in the image?"), build_prompt(LLAVA_HF, "Is there a star?")]


def test_the_registry_holds_the_supported_families_by_model_type():
    assert {key: type(family) for key, family in FAMILIES.items()} == {
        "llava": Llava,
        "instructblip": InstructBlip,
        "llava_onevision": LlavaOnevision,
        "qwen2_5_vl": Qwen25VL,
        "idefics3": Idefics3,
        "smolvlm": SmolVlm,
    }
    assert all(key == family.model_type for key, family in FAMILIES.items())
    with pytest.raises(TypeError, match="expected_image_tokens"):
        type("Incomplete", (Family,), {"model_type": "x", "processor_class": LlavaProcessor})()


def test_each_tiny_checkpoint_is_told_its_family(tiny_llava, tmp_path):
    model, processor = tiny_llava
    llava = FAMILIES["llava"]
    assert family_of(model) is family_of(model.config) is family_of(processor) is family_of("llava") is llava
    model.save_pretrained(tmp_path / "llava")
    processor.save_pretrained(tmp_path / "llava")
    loaded, loaded_processor = load_model(str(tmp_path / "llava"), device="cpu")
    assert family_of(loaded) is family_of(loaded_processor) is FAMILIES["llava"]
    blip, blip_processor = load_model(str(save_tiny_instructblip(tmp_path / "blip", SHAPES, COLOURS)), device="cpu")
    assert family_of(blip) is family_of(blip_processor) is FAMILIES["instructblip"]
    assert family_of(blip).shares_prefix is False and family_of(loaded).shares_prefix is True


def test_a_model_type_of_no_family_fails_naming_the_known_ones():
    known = re.escape(str(list(FAMILIES)))
    with pytest.raises(UnknownFamilyError, match=rf"model_type 'paligemma'; known: {known}"):
        family_of(SimpleNamespace(config=SimpleNamespace(model_type="paligemma")))


class ToyProcessor(LlavaProcessor):
    """A processor class of the toy family's own, so the processor tells its family too."""


class Toy(Llava):
    """A LLaVA under another model type that records what the library asks of it."""

    model_type = "toy"
    processor_class = ToyProcessor

    def __init__(self):
        self.calls: list[str] = []

    def blank_image(self, processor):
        self.calls.append("blank_image")
        return super().blank_image(processor)

    def to_device(self, model, inputs):
        self.calls.append("to_device")
        return super().to_device(model, inputs)

    def forward(self, model, inputs, **kwargs):
        self.calls.append("forward")
        return super().forward(model, inputs, **kwargs)


def test_a_toy_family_registered_in_a_test_is_picked_for_its_model_type(tiny_llava, monkeypatch):
    model, processor = tiny_llava
    toy = Toy()
    monkeypatch.setitem(FAMILIES, "toy", toy)
    toy_model = copy.deepcopy(model)
    toy_model.config.model_type = "toy"
    toy_processor = ToyProcessor(
        image_processor=processor.image_processor, tokenizer=processor.tokenizer, patch_size=processor.patch_size,
        vision_feature_select_strategy=processor.vision_feature_select_strategy,
        num_additional_image_tokens=processor.num_additional_image_tokens,
    )  # fmt: skip
    assert family_of("toy") is family_of(toy_model) is family_of(toy_processor) is toy
    assert family_of(model) is FAMILIES["llava"]  # the real LLaVA keeps its family
    for probe, images in (("naive", [_image(0), _image(1)]), ("zero", None), ("none", None)):
        toy.calls.clear()
        inputs = probe_inputs(toy_processor, PROMPTS, probe, images)
        toy_logits = next_token_logits(toy_model, inputs)
        assert toy.calls == (["blank_image"] if probe == "zero" else []) + ["to_device", "forward"], probe
        llava_logits = next_token_logits(model, probe_inputs(processor, PROMPTS, probe, images))
        torch.testing.assert_close(toy_logits, llava_logits)
