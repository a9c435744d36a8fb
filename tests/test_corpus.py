"""Training data of the embedded model: the prior corpus follows the config, visual examples have no shortcut."""

from collections import Counter

import numpy as np
import pytest

from lvlm_debias.embedded.corpus import COLOUR_TEMPLATE, Prior, caption, text_examples, visual_examples

SHAPES = ["circle", "square", "triangle", "star"]
COLOURS = ["red", "green", "blue"]


def test_text_corpus_follows_the_prior():
    pairs = text_examples(
        SHAPES, COLOURS, Prior(yes_rate=0.8, colour="blue", colour_rate=0.7), 8000, np.random.default_rng(0)
    )
    existence = [a for q, a in pairs if q.startswith("Is there")]
    colours = Counter(a for q, a in pairs if q.startswith("What colour"))
    assert len(existence) == 4000
    assert existence.count("Yes") / len(existence) == pytest.approx(0.8, abs=0.02)
    assert colours["blue"] / sum(colours.values()) == pytest.approx(0.7, abs=0.02)
    assert colours["red"] / sum(colours.values()) == pytest.approx(0.15, abs=0.02)


def test_prior_validation_names_the_field():
    with pytest.raises(ValueError, match="prior.yes_rate"):
        Prior(yes_rate=1.2)
    with pytest.raises(ValueError, match="prior.colour 'pink'"):
        Prior(colour="pink").colour_distribution(COLOURS)


def test_visual_examples_are_balanced_per_object():
    rng = np.random.default_rng(0)
    # circle is in every scene, star in few: a per-image negative sampler would make "circle" mostly Yes
    scenes = [
        {
            "objects": [{"shape": "circle", "colour": "red"}]
            + ([{"shape": "star", "colour": "blue"}] if i % 5 == 0 else [{"shape": "square", "colour": "green"}])
        }
        for i in range(50)
    ]
    scenes += [{"objects": [{"shape": "triangle", "colour": "red"}]} for _ in range(50)]
    examples = visual_examples(scenes, SHAPES, rng, colour_questions=True)
    for shape in SHAPES:
        answers = Counter(a for i, q, a in examples if q == f"Is there a {shape} in the image?")
        assert answers["Yes"] == answers["No"] > 0, (shape, answers)
    for i, q, a in examples:
        present = {o["shape"] for o in scenes[i]["objects"]}
        if q.startswith("Is there"):
            assert (q.split()[3] in present) == (a == "Yes")
        else:
            shape = q[len("What colour is the ") : -1]
            assert q == COLOUR_TEMPLATE.format(object=shape)
            assert a == next(o["colour"] for o in scenes[i]["objects"] if o["shape"] == shape)
    assert not any(q.startswith("What colour") for _, q, _ in visual_examples(scenes, SHAPES, rng))


def test_caption_lists_objects_left_to_right():
    scene = {
        "objects": [
            {"shape": "star", "colour": "blue", "x": 40, "y": 10},
            {"shape": "circle", "colour": "red", "x": 5, "y": 30},
            {"shape": "square", "colour": "green", "x": 60, "y": 50},
        ]
    }
    assert caption(scene) == "A red circle, a blue star and a green square."
    assert caption({"objects": scene["objects"][:1]}) == "A blue star."


def test_visual_yes_share_keeps_the_same_ratio_for_every_object():
    # circle in 40 scenes, star in 20 (of 100): with yes_share 0.8, No = round(Yes * 0.2 / 0.8) = Yes / 4
    scenes = [{"objects": [{"shape": "circle", "colour": "red"}]} for _ in range(40)]
    scenes += [{"objects": [{"shape": "star", "colour": "red"}]} for _ in range(20)]
    scenes += [{"objects": [{"shape": "square", "colour": "red"}]} for _ in range(40)]
    examples = visual_examples(scenes, ["circle", "star", "square"], np.random.default_rng(0), yes_share=0.8)
    for shape, yes in (("circle", 40), ("star", 20)):
        answers = Counter(a for _, q, a in examples if q == f"Is there a {shape} in the image?")
        assert answers == Counter({"Yes": yes, "No": yes // 4}), (shape, answers)
    with pytest.raises(ValueError, match="yes_share"):
        visual_examples(scenes, ["circle"], np.random.default_rng(0), yes_share=1.0)


def test_uniform_negatives_ask_every_object_equally_often():
    """Same total of "No" questions as matched sampling, spread evenly: frequent objects are "Yes" more often."""
    scenes = [{"objects": [{"shape": "circle", "colour": "red"}]} for _ in range(60)]
    scenes += [{"objects": [{"shape": "star", "colour": "red"}]} for _ in range(20)]
    scenes += [{"objects": [{"shape": "square", "colour": "red"}]} for _ in range(40)]
    shapes = ["circle", "star", "square"]
    matched = visual_examples(scenes, shapes, np.random.default_rng(0))
    uniform = visual_examples(scenes, shapes, np.random.default_rng(0), negatives="uniform")
    no = {name: Counter(q for _, q, a in ex if a == "No") for name, ex in (("m", matched), ("u", uniform))}
    assert sum(no["m"].values()) == sum(no["u"].values()) == 120  # yes share 0.5 either way
    assert set(no["u"].values()) == {40}  # 120 / 3 for each object
    assert no["m"]["Is there a circle in the image?"] == 60
    circle = Counter(a for _, q, a in uniform if q == "Is there a circle in the image?")
    assert circle == Counter({"Yes": 60, "No": 40})
    # every "No" is asked on a scene without the object
    assert all(q.split()[3] not in {o["shape"] for o in scenes[i]["objects"]} for i, q, a in uniform if a == "No")
    with pytest.raises(ValueError, match="negatives"):
        visual_examples(scenes, shapes, np.random.default_rng(0), negatives="popular")
