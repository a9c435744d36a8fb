"""MME- and MMMU-style question building on a generated shapes world and on hand-made records."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import pytest

from lvlm_debias.world.scenes import WorldSpec, generate_world
from lvlm_debias.world.tasks import (
    CORNERS,
    MME_GROUPS,
    MME_SUBTASKS,
    MMMU_SUBJECTS,
    MMMU_SUFFIX,
    build_mme,
    build_mmmu,
    coverage,
    number_word,
)

SIDE = 64


@pytest.fixture(scope="module")
def world_annotations() -> list[dict]:
    spec = WorldSpec(image_size=SIDE)
    scenes = generate_world(spec, 40, 0, "train") + generate_world(spec, 120, 1, "eval")
    return [{"image": f"images/{s.image_id}.png", **s.to_dict()} for s in scenes]


def _objects(annotations: list[dict]) -> dict[str, list[dict]]:
    return {a["image"]: a["objects"] for a in annotations}


def _obj(shape: str, colour: str = "red", x: float = 10.0) -> dict:
    return {"shape": shape, "colour": colour, "x": x, "y": 32.0, "size": 20.0, "hard": None}


def _mme_truth(text: str, objects: list[dict]) -> str:
    """Recompute a yes/no answer from the objects of the image."""
    by_shape = {o["shape"]: o for o in objects}
    if m := re.fullmatch(r"Is there a (\w+) in the image\? Please answer yes or no\.", text):
        return "yes" if m[1] in by_shape else "no"
    if m := re.fullmatch(
        r"(?:Are there (\w+) objects|Is there (one) object) in the image\? Please answer yes or no\.", text
    ):
        return "yes" if (m[1] or m[2]) == number_word(len(objects)) else "no"
    if m := re.fullmatch(r"Is the (\w+) on the (left|right) side of the image\? Please answer yes or no\.", text):
        x = by_shape[m[1]]["x"]
        assert abs(x - SIDE / 2) > 0.1 * SIDE
        return "yes" if (x < SIDE / 2) == (m[2] == "left") else "no"
    if m := re.fullmatch(r"Is the (\w+) (\w+)\? Please answer yes or no\.", text):
        return "yes" if by_shape[m[1]]["colour"] == m[2] else "no"
    m = re.fullmatch(r"Does a (\w+) have (\w+) corners\? Please answer yes or no\.", text)
    assert m, text
    return "yes" if number_word(CORNERS[m[1]]) == m[2] else "no"


def test_every_mme_image_and_subtask_has_one_yes_and_one_no(world_annotations):
    questions = build_mme(world_annotations, seed=0)
    assert [q["question_id"] for q in questions] == list(range(len(questions)))
    pairs: dict[str, list[dict]] = defaultdict(list)
    for q in questions:
        pairs[q["pair"]].append(q)
    for pair, members in pairs.items():
        assert sorted(q["label"] for q in members) == ["no", "yes"]
        assert {(q["image"], q["subtask"]) for q in members} == {(members[0]["image"], members[0]["subtask"])}
        assert pair == f"{members[0]['image'][len('images/') : -len('.png')]}:{members[0]['subtask']}"
    asked = coverage(questions, "subtask")
    for subtask in ("existence", "count", "colour", "shape_facts"):
        assert asked[subtask] == 120  # distinct shapes per image: these can always be asked here
    assert 0 < asked["position"] < 120  # shapes near the middle give no position question
    assert set(MME_GROUPS["perception"]) | set(MME_GROUPS["cognition"]) == set(MME_SUBTASKS)


def test_mme_labels_match_the_annotations(world_annotations):
    objects = _objects(world_annotations)
    questions = build_mme(world_annotations, seed=1)
    for q in questions:
        assert q["image"].startswith("images/eval_")
        assert q["label"] == _mme_truth(q["text"], objects[q["image"]]), q
    assert any(q["text"].startswith("Is there one object") for q in questions)


def test_shape_facts_answers_come_from_the_text_alone(world_annotations):
    label_of_text: dict[str, set[str]] = defaultdict(set)
    for seed in range(3):
        for q in build_mme(world_annotations, seed=seed, subtasks=("shape_facts",)):
            label_of_text[q["text"]].add(q["label"])
    assert all(len(labels) == 1 for labels in label_of_text.values())
    assert len(label_of_text) > 5


def test_colour_and_position_skip_repeated_or_central_shapes():
    annotations = [
        {"image": "a.png", "image_id": "a", "objects": [_obj("circle", "red", 10), _obj("circle", "blue", 54)]},
        {"image": "b.png", "image_id": "b", "objects": [_obj("square", "red", 33), _obj("circle", "green", 54)]},
        {"image": "c.png", "image_id": "c", "image_size": 200, "objects": [_obj("square", "blue", 54)]},
    ]
    questions = build_mme(annotations, seed=0, subtasks=("colour", "position"))
    assert sorted({q["pair"] for q in questions}) == ["b:colour", "b:position", "c:colour", "c:position"]
    by_text = {q["text"]: q["label"] for q in questions}
    assert by_text["Is the circle on the right side of the image? Please answer yes or no."] == "yes"
    assert by_text["Is the square on the left side of the image? Please answer yes or no."] == "yes"  # side 200


def test_mmmu_options_are_distinct_and_hold_the_answer_at_the_label(world_annotations):
    objects = _objects(world_annotations)
    questions = build_mmmu(world_annotations, seed=0)
    assert coverage(questions, "subject") == {subject: 120 for subject in MMMU_SUBJECTS}
    for q in questions:
        assert len(q["options"]) == len(set(q["options"])) == 4
        assert q["options"].count(q["answer"]) == 1
        assert q["options"]["ABCD".index(q["label"])] == q["answer"]
        lines = [f"{letter}. {option}" for letter, option in zip("ABCD", q["options"], strict=True)]
        assert q["text"] == "\n".join([q["question"], *lines, MMMU_SUFFIX])
        present = {o["shape"]: o for o in objects[q["image"]]}
        if q["subject"] == "shape":
            assert [o in present for o in q["options"]] == [o == q["answer"] for o in q["options"]]
        elif q["subject"] == "colour":
            shape = re.fullmatch(r"What colour is the (\w+)\?", q["question"])[1]
            assert q["answer"] == present[shape]["colour"]
        elif q["subject"] == "count":
            assert q["answer"] == number_word(len(present))
        else:
            shape = re.fullmatch(r"How many corners does a (\w+) have\?", q["question"])[1]
            assert q["answer"] == number_word(CORNERS[shape])


def test_mmmu_labels_spread_over_the_letters(world_annotations):
    counts = Counter(q["label"] for q in build_mmmu(world_annotations, seed=2))
    assert set(counts) == set("ABCD")
    assert all(abs(n - 120) < 40 for n in counts.values())  # 480 questions, 120 expected per letter
    five = build_mmmu(world_annotations, seed=2, letters=("A", "B", "C", "D", "E"), subjects=("count",))
    assert all(len(q["options"]) == 5 for q in five)
    assert set(Counter(q["label"] for q in five)) == set("ABCDE")


@pytest.mark.parametrize("build", [build_mme, build_mmmu])
def test_questions_are_seeded(world_annotations, build):
    first = build(world_annotations, seed=3)
    assert first == build(world_annotations, seed=3)
    assert first != build(world_annotations, seed=4)


@pytest.mark.parametrize("build", [build_mme, build_mmmu])
def test_n_images_keeps_the_first_eval_images(world_annotations, build):
    images = list(dict.fromkeys(q["image"] for q in build(world_annotations, seed=0, n_images=5)))
    assert images == [f"images/eval_{i:05d}.png" for i in range(5)]


def test_unknown_subtask_subject_or_letters_are_named(world_annotations):
    with pytest.raises(ValueError, match=r"MME subtask 'bogus'.*existence"):
        build_mme(world_annotations, seed=0, subtasks=("existence", "bogus"))
    with pytest.raises(ValueError, match=r"MMMU subject 'weather'.*shape"):
        build_mmmu(world_annotations, seed=0, subjects=("weather",))
    with pytest.raises(ValueError, match=r"letters.*\('A', 'A'\)"):
        build_mmmu(world_annotations, seed=0, letters=("A", "A"))


def test_object_without_colour_is_reported():
    with pytest.raises(ValueError, match="record 1.*colour"):
        build_mme([{"image": "a", "objects": [_obj("circle")]}, {"image": "b", "objects": [{"shape": "circle"}]}], 0)


def test_image_without_objects_gets_only_count_and_facts():
    annotations = [
        {"image": "a.png", "objects": [_obj("circle", "red"), _obj("star", "blue")]},
        {"image": "e.png", "objects": []},
    ]
    asked = {(q["image"], q["subtask"]) for q in build_mme(annotations, seed=0)}
    assert {s for image, s in asked if image == "e.png"} == {"count", "shape_facts"}
    mmmu = build_mmmu(annotations, seed=0, letters=("A", "B"))
    assert {q["subject"] for q in mmmu if q["image"] == "e.png"} == {"count", "shape_facts"}
    assert [q["answer"] for q in mmmu if q["image"] == "e.png" and q["subject"] == "count"] == ["zero"]
