"""Shared fixtures: an untrained tiny LLaVA (real classes, random weights) and a small world config."""

import copy
from pathlib import Path

import pytest
import torch
import yaml

from lvlm_debias.embedded.corpus import vocabulary_texts
from lvlm_debias.embedded.tiny_llava import TinyLlavaSpec, build_model, build_processor
from lvlm_debias.embedded.tokenizer import build_tokenizer
from lvlm_debias.models.prompts import LLAVA_HF, without_image

ROOT = Path(__file__).resolve().parents[1]


def schema_defaults(section: str, values: dict | None = None) -> dict:
    """``values`` for config section ``section`` with the schema's defaults filled in (nested objects too), as the
    Snakefile's ``validate`` fills them: what a rule hands the library."""

    def fill(schema: dict, out: dict) -> dict:
        for key, sub in schema.get("properties", {}).items():
            if key not in out and "default" in sub:
                out[key] = copy.deepcopy(sub["default"])
            if isinstance(out.get(key), dict):
                fill(sub, out[key])
        return out

    schema = yaml.safe_load((ROOT / "config/schema.yaml").read_text())["properties"][section]
    return fill(schema, copy.deepcopy(values or {}))


SHAPES = ["circle", "square", "triangle", "star"]
COLOURS = ["red", "green", "blue"]


@pytest.fixture(scope="session")
def tiny_spec() -> TinyLlavaSpec:
    return TinyLlavaSpec(image_size=32, patch_size=8, vision_hidden=32, text_hidden=32, max_positions=64)


@pytest.fixture(scope="session")
def tiny_llava(tiny_spec):
    """(model, processor) of an untrained tiny LLaVA with left padding, as the loader sets it up."""
    tokenizer = build_tokenizer(vocabulary_texts(SHAPES, COLOURS, [LLAVA_HF, without_image(LLAVA_HF)]))
    processor = build_processor(tiny_spec, tokenizer)
    torch.manual_seed(0)
    model = build_model(tiny_spec, tokenizer).eval()
    processor.tokenizer.padding_side = "left"
    return model, processor


@pytest.fixture()
def default_config() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def write_questions(tmp_path, n, first_id=0, labels=("no",)):
    """``n`` POPE-style questions about random images saved in ``tmp_path``: ids from ``first_id``, objects and
    labels cycling through their lists."""
    from test_probes import _image

    out = []
    for i in range(n):
        _image(i).save(tmp_path / f"{i}.png")
        obj = ["circle", "star", "square"][i % 3]
        out.append(
            {
                "question_id": first_id + i,
                "image": f"{i}.png",
                "text": f"Is there a {obj} in the image?",
                "label": labels[i % len(labels)],
                "subset": "s",
            }
        )
    return out
