"""The embedded model is a testbed only if the prior we inject is the prior we measure."""

import json

import numpy as np
import pytest
from test_decoding_methods import Ban
from test_probe_registry import INVERT
from test_sweep import assert_matches_generate

from lvlm_debias.config import world_spec
from lvlm_debias.data.jsonl import read_jsonl
from lvlm_debias.decoding.base import DecodingParameters
from lvlm_debias.decoding.decode import decode_records
from lvlm_debias.decoding.methods import DECODING_METHODS
from lvlm_debias.decoding.sampling import DecodingConfig
from lvlm_debias.embedded.build import build_embedded_model
from lvlm_debias.inputs.images import load_image
from lvlm_debias.inputs.probes import probe_inputs, registered
from lvlm_debias.models.load import load_model
from lvlm_debias.models.prompts import build_prompt
from lvlm_debias.scoring.score import YES_NO, next_token_logits, score_questions
from lvlm_debias.world.scenes import write_world

pytestmark = pytest.mark.slow

WORLD = {
    "image_size": 32,
    "shapes": ["circle", "square", "triangle", "star"],
    "colours": ["red", "green", "blue"],
    "scenes": [["circle", "square"], ["triangle", "star"]],
    "scene_weights": [0.6, 0.4],
}
ARCH = {"image_size": 32, "patch_size": 8, "vision_hidden": 32, "text_hidden": 64, "max_positions": 64}
# Text-only pretraining dominates the prior; the visual stage is kept short to make the test fast, and the text corpus
# holds existence and colour questions only (no MME/MMMU formats), so that 250 steps suffice to learn the prior.
TRAINING = {
    "task_text_share": 0.0,
    "vision_steps": 20,
    "vision_images": 200,
    "text_steps": 250,
    "visual_steps": 40,
    "caption_steps": 20,
    "batch_size": 32,
    "text_corpus_size": 4000,
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    write_world(root, world_spec({"world": WORLD}), n_train=60, n_eval=4, seed=0)
    return root


def _train(world, tmp_path, yes_rate):
    entry = {
        "source": "train",
        "prompt": "USER: <image>\n{question} ASSISTANT:",
        "prior": {"yes_rate": yes_rate, "colour": "blue", "colour_rate": 0.9},
        "architecture": ARCH,
        "training": TRAINING,
    }
    out = tmp_path / f"model-{yes_rate}"
    card = build_embedded_model(world / "annotations.jsonl", out, WORLD, entry, seed=0, threads=1)
    return out, card


def test_injected_prior_is_measured(world, tmp_path):
    """Tolerances: with yes_rate 0.8 the None-input P(yes) must exceed 0.65 (clearly above 0.5); with 0.5 it must
    lie within 0.5 ± 0.12; and the two must differ by more than 0.15. The colour prior (blue, 0.9) must come top."""
    _, biased = _train(world, tmp_path, 0.8)
    _, fair = _train(world, tmp_path, 0.5)
    assert biased["measured_prior"]["p_yes_none"] > 0.65, biased["measured_prior"]
    assert abs(fair["measured_prior"]["p_yes_none"] - 0.5) < 0.12, fair["measured_prior"]
    assert biased["measured_prior"]["p_yes_none"] - fair["measured_prior"]["p_yes_none"] > 0.15
    assert biased["measured_prior"]["colour_top_none"] == "blue"


def test_checkpoint_folder_loads_like_a_hub_checkpoint(world, tmp_path):
    out, card = _train(world, tmp_path, 0.8)
    files = {p.name for p in out.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "processor_config.json", "model_card.json"} <= files
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in files)
    assert json.loads((out / "model_card.json").read_text()) == card
    for key in ("seed", "training_seconds", "heldout_naive_accuracy", "measured_prior", "prior"):
        assert key in card
    model, processor = load_model(str(out), device="cpu")
    assert type(model).__name__ == "LlavaForConditionalGeneration"
    assert type(processor).__name__ == "LlavaProcessor"
    assert not list(tmp_path.glob(".model-*")), "the staging folder was left behind"


def test_sweep_distribution_matches_generate_on_the_trained_model(world, tmp_path):
    """On a trained embedded model (peaked answers, unlike random weights), the exact first-token distribution of a
    decoding configuration agrees with real ``model.generate`` draws (tolerance in ``assert_matches_generate``)."""
    out, _ = _train(world, tmp_path, 0.8)
    model, processor = load_model(str(out), device="cpu")
    for config in (DecodingConfig(1.0, 1.0, 0), DecodingConfig(1.5, 0.9, 0)):
        assert_matches_generate(model, processor, config)


def test_a_toy_probe_and_a_toy_decoding_method_run_on_the_trained_model(world, tmp_path, monkeypatch):
    """The seams on the embedded model itself (trained here, loaded as a hub checkpoint is): a pixel probe registered
    in one line (``tests/test_probe_registry.py``'s INVERT) runs through first-token scoring, and a decoding method
    registered in one line (``tests/test_decoding_methods.py``'s token ban) runs through generation."""
    out, _ = _train(world, tmp_path, 0.8)
    model, processor = load_model(str(out), device="cpu")
    eval_images = [r for r in read_jsonl(world / "annotations.jsonl") if r["split"] == "eval"]
    questions = [
        {"question_id": i, "image": r["image"], "text": f"Is there a {shape} in the image?", "label": "yes"}
        for i, (r, shape) in enumerate((r, s) for r in eval_images for s in ("circle", "star"))
    ]
    template = "USER: <image>\n{question} ASSISTANT:"
    with registered(INVERT):
        scores, _, passes = score_questions(
            model, processor, questions, world, template=template, labels=YES_NO, probes=["naive", "invert"],
            top_k=100, batch_size=32, seed=0,
        )  # fmt: skip
    assert passes == {"naive": len(questions), "invert": len(questions)}
    by_probe = {p: t.sort_values("question_id")[["p_yes", "p_no"]].to_numpy() for p, t in scores.groupby("probe")}
    assert by_probe["invert"].shape == by_probe["naive"].shape == (len(questions), 2)
    assert not np.allclose(by_probe["invert"], by_probe["naive"], atol=1e-4)

    captions = [
        {"question_id": i, "image": r["image"], "text": "Describe the image."} for i, r in enumerate(eval_images)
    ]
    prompts = [build_prompt(template, "Describe the image.")] * len(captions)
    images = [load_image(world, r) for r in captions]
    banned = sorted(
        set(next_token_logits(model, probe_inputs(processor, prompts, "naive", images)).argmax(-1).tolist())
    )
    monkeypatch.setitem(DECODING_METHODS, "toy-ban", Ban(tokens=tuple(banned)))
    frame = decode_records(
        model, processor, captions, world, template, ["naive", "toy-ban"], "default", DecodingConfig(do_sample=False),
        DecodingParameters(1.0, 0.1), max_new_tokens=6, batch_size=4, seed=0,
    )  # fmt: skip
    texts = {m: rows["text"].tolist() for m, rows in frame.groupby("method", sort=False)}
    assert len(texts["toy-ban"]) == len(captions)
    assert all(ban != naive for ban, naive in zip(texts["toy-ban"], texts["naive"], strict=True))
