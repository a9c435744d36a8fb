"""Behaviour of the synthetic shapes world: determinism, rendering, validation, statistics."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from lvlm_debias.data.jsonl import read_jsonl
from lvlm_debias.world.scenes import (
    SHAPE_NAMES,
    Scene,
    WorldObject,
    WorldSpec,
    generate_world,
    render_scene,
    write_world,
)


def _single_object_mask(shape: str, spec: WorldSpec) -> np.ndarray:
    scene = Scene("probe", "eval", 0, (WorldObject(shape, "red", 32.0, 32.0, 0.34 * 64),))
    pixels = np.asarray(render_scene(scene, spec), dtype=int)
    return (pixels[..., 0] - pixels[..., 1]) > 60  # red where the shape is, grey elsewhere


def test_same_seed_gives_identical_scenes_and_pixels():
    spec = WorldSpec()
    first, second = generate_world(spec, 20, 7, "eval"), generate_world(spec, 20, 7, "eval")
    assert first == second
    assert [render_scene(s, spec).tobytes() for s in first] == [render_scene(s, spec).tobytes() for s in second]


def test_different_seed_gives_different_scenes():
    spec = WorldSpec()
    assert generate_world(spec, 20, 7, "eval") != generate_world(spec, 20, 8, "eval")


def test_rendered_images_have_spec_size_and_rgb_mode():
    spec = WorldSpec(image_size=48)
    for scene in generate_world(spec, 10, 0, "train"):
        image = render_scene(scene, spec)
        assert image.size == (48, 48)
        assert image.mode == "RGB"


def test_every_shape_renders_a_distinct_mask():
    spec = WorldSpec(shapes=SHAPE_NAMES)
    masks = {shape: _single_object_mask(shape, spec) for shape in SHAPE_NAMES}
    for shape, mask in masks.items():
        assert mask.sum() > 80, f"{shape} is barely visible"
    for a, b in itertools.combinations(SHAPE_NAMES, 2):
        differing = np.logical_xor(masks[a], masks[b]).sum()
        smaller = min(masks[a].sum(), masks[b].sum())
        assert differing > 0.15 * smaller, f"{a} and {b} look alike ({differing} differing pixels)"


def test_scene_round_trips_through_dict():
    scene = generate_world(WorldSpec(hard_share=0.5), 5, 3, "eval")[4]
    assert Scene.from_dict(scene.to_dict()) == scene


def test_shape_set_is_distinct_within_each_image():
    for scene in generate_world(WorldSpec(min_objects=3, max_objects=3), 300, 1, "train"):
        shapes = [obj.shape for obj in scene.objects]
        assert len(shapes) == len(set(shapes)) == 3


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"image_size": 16}, "image_size"),
        ({"shapes": ["circle", "blob"]}, "blob"),
        ({"colours": ["red", "mauve"]}, "mauve"),
        ({"colours": ["red"]}, "colours"),
        ({"min_objects": 0}, "min_objects"),
        ({"min_objects": 3, "max_objects": 2}, "min_objects"),
        ({"max_objects": 9}, "max_objects"),
        ({"hard_share": 1.5}, "hard_share"),
        ({"scenes": [["circle", "moon"]], "scene_weights": [1.0]}, "scenes"),
        ({"scene_weights": [1.0, 1.0]}, "scene_weights"),
        ({"colour": ["red"]}, "colour"),
    ],
)
def test_spec_validation_names_the_bad_field(config, field):
    with pytest.raises(ValueError, match=field):
        WorldSpec.from_dict(config)


def test_from_dict_accepts_lists():
    spec = WorldSpec.from_dict(
        {"shapes": ["circle", "square"], "scenes": [["circle", "square"]], "scene_weights": [1.0], "max_objects": 2}
    )
    assert spec.shapes == ("circle", "square")
    assert spec.scenes == (("circle", "square"),)


def test_cooccurrence_follows_scene_groups_and_popularity_is_uneven():
    spec = WorldSpec()
    scenes = generate_world(spec, 2000, 11, "train")
    pairs: Counter = Counter()
    singles: Counter = Counter()
    for scene in scenes:
        shapes = sorted(obj.shape for obj in scene.objects)
        singles.update(shapes)
        pairs.update(itertools.combinations(shapes, 2))
    grouped = {tuple(sorted(p)) for group in spec.scenes for p in itertools.combinations(group, 2)}
    across = [pair for pair in itertools.combinations(sorted(spec.shapes), 2) if pair not in grouped]
    within_counts = [pairs[p] for p in grouped]
    across_counts = [pairs[p] for p in across]
    assert min(within_counts) > max(across_counts)
    assert np.mean(within_counts) > 5 * np.mean(across_counts)
    assert singles.most_common(1)[0][0] == "circle"  # the one shape in two scene groups
    assert singles["circle"] > 2 * min(singles[s] for s in spec.shapes)


@pytest.mark.parametrize("share", [0.0, 0.3, 1.0])
def test_share_of_hard_objects_matches_setting(share):
    objects = [obj for s in generate_world(WorldSpec(hard_share=share), 2000, 5, "eval") for obj in s.objects]
    observed = np.mean([obj.hard is not None for obj in objects])
    assert abs(observed - share) < 0.03
    if share > 0:
        assert {obj.hard for obj in objects} - {None} == {"small", "low_contrast", "occluded"}


def test_small_objects_are_smaller():
    objects = [obj for s in generate_world(WorldSpec(hard_share=1.0), 300, 2, "eval") for obj in s.objects]
    small = [obj.size for obj in objects if obj.hard == "small"]
    normal = [obj.size for obj in objects if obj.hard != "small"]
    assert max(small) < min(normal)


def test_write_world_writes_images_and_annotations(tmp_path):
    spec = WorldSpec()
    write_world(tmp_path, spec, n_train=4, n_eval=4, seed=0)
    records = read_jsonl(tmp_path / "annotations.jsonl")
    assert [r["split"] for r in records] == ["train"] * 4 + ["eval"] * 4
    assert [r["image"] for r in records[:2]] == ["images/train_00000.png", "images/train_00001.png"]
    for record in records:
        with Image.open(tmp_path / record["image"]) as image:
            assert np.array_equal(np.asarray(image), np.asarray(render_scene(Scene.from_dict(record), spec)))
    train = [[o["shape"] for o in r["objects"]] for r in records[:4]]
    evaluation = [[o["shape"] for o in r["objects"]] for r in records[4:]]
    assert train != evaluation, "train and eval must come from different seeds"
