"""The controlled study (config/study.yaml, `make study`): the shared stage-0 tower, batch calibration, the gain
tables, the findings' text, the figure, the study report, and the study's DAG."""

import pytest
import torch

from lvlm_debias.config import world_spec
from lvlm_debias.data.jsonl import read_jsonl
from lvlm_debias.data.shapes_world import write_world
from lvlm_debias.models.corpus import Prior
from lvlm_debias.models.tiny_llava import TinyLlavaSpec
from lvlm_debias.models.train import TrainSettings, load_vision_tower, save_vision_tower, train_tiny_llava

WORLD = {
    "image_size": 32,
    "shapes": ["circle", "square", "triangle", "star"],
    "colours": ["red", "green", "blue"],
    "scenes": [["circle", "square"], ["triangle", "star"]],
    "scene_weights": [0.6, 0.4],
}
ARCH = TinyLlavaSpec(image_size=32, patch_size=16, vision_hidden=32, vision_layers=1, text_hidden=32, text_layers=1,
                     max_positions=64)  # fmt: skip
STEPS = {
    "vision_steps": 6,
    "vision_images": 40,
    "vision_dense_weight": 1.0,
    "text_steps": 4,
    "align_steps": 3,
    "visual_steps": 4,
    "caption_steps": 2,
    "batch_size": 8,
    "text_corpus_size": 200,
}


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    write_world(root, world_spec({"world": WORLD}), n_train=30, n_eval=0, seed=0)
    return root, [r for r in read_jsonl(root / "annotations.jsonl") if r["split"] == "train"]


def _train(scenes, yes_rate, vision_tower=None, **steps):
    root, train = scenes
    return train_tiny_llava(
        train, root, world_spec({"world": WORLD}), prior=Prior(yes_rate=yes_rate), spec=ARCH,
        settings=TrainSettings(**{**STEPS, **steps}), seed=3, vision_tower=vision_tower,
    )  # fmt: skip


def _same(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_saved_tower_loads_as_it_was_and_replaces_stage_0_at_any_yes_rate(scenes, tmp_path):
    low = _train(scenes, 0.5)
    path = tmp_path / "tower.safetensors"
    save_vision_tower(low.model, path)
    loaded = load_vision_tower(path)
    assert all(torch.equal(loaded[k], v) for k, v in low.model.model.vision_tower.state_dict().items())
    assert loaded.keys() == low.model.model.vision_tower.state_dict().keys()
    # through stage 0 at yes_rate 0.95 trains the tower of yes_rate 0.5 (same seed) ...
    high = _train(scenes, 0.95)
    assert _same(high.model.model.vision_tower, low.model.model.vision_tower)
    assert not _same(high.model, low.model)  # ... but another language model
    # ... and loading the 0.5 tower instead of running stage 0 gives the 0.95 model, bit for bit
    reused = _train(scenes, 0.95, vision_tower=path)
    assert _same(reused.model, high.model)
    assert reused.card["vision_tower"] == str(path) and "vision_images" not in reused.card["stage_seconds"]
    # the stage-0-only run of the study's tower job (stages a to c at 0 steps) trains the same tower
    only = _train(scenes, 0.8, text_steps=0, align_steps=0, visual_steps=0, caption_steps=0)
    assert _same(only.model.model.vision_tower, low.model.model.vision_tower)
