"""POPE question sampling on hand-made annotations, and the JSON Lines helpers it writes with."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import pytest

from lvlm_debias.data.jsonl import read_jsonl, require_fields, write_jsonl
from lvlm_debias.data.pope import (
    POPE_SPLITS,
    build_pope,
    cooccurrence,
    object_frequencies,
    write_pope,
)
from lvlm_debias.world.scenes import WorldSpec, generate_world


def _record(image: str, names: list[str], split: str = "eval", key: str = "shape") -> dict:
    return {"image": image, "split": split, "objects": [{key: name} for name in names]}


def _by_image(questions: list[dict]) -> dict[str, dict[str, list[str]]]:
    grouped: dict[str, dict[str, list[str]]] = defaultdict(lambda: {"yes": [], "no": []})
    for q in questions:
        grouped[q["image"]][q["label"]].append(q["object"])
    return dict(grouped)


@pytest.fixture(scope="module")
def world_annotations() -> list[dict]:
    spec = WorldSpec(hard_share=0.3)
    scenes = generate_world(spec, 60, 0, "train") + generate_world(spec, 120, 1, "eval")
    return [{"image": f"images/{s.image_id}.png", **s.to_dict()} for s in scenes]


# Frequencies: z 4, y 3, x 2, u 1, v 1, w 1 (name order runs against frequency order).
POPULAR_ANNOTATIONS = [
    _record("i0", ["z"]),
    _record("i1", ["z", "y"]),
    _record("i2", ["z", "y", "x"]),
    _record("i3", ["z", "y", "x", "u"]),
    _record("i4", ["v"]),
    _record("i5", ["w"]),
]

# Train images make dog/mouse co-occur with cat; bird (4) and ant (3) are more frequent but never meet cat.
ADVERSARIAL_ANNOTATIONS = [
    _record("t0", ["cat", "dog"], "train", key="name"),
    _record("t1", ["cat", "dog"], "train", key="name"),
    _record("t2", ["cat", "mouse"], "train", key="name"),
    *[_record(f"t{i}", ["bird", "ant"], "train", key="name") for i in range(3, 6)],
    _record("t6", ["bird"], "train", key="name"),
    _record("q0", ["cat"], key="name"),
    _record("q1", ["dog", "mouse"], key="name"),
]


def test_frequencies_and_cooccurrence_count_images():
    annotations = [_record("x", ["a", "b", "a"]), _record("y", ["a"])]
    assert object_frequencies(annotations) == Counter({"a": 2, "b": 1})
    assert cooccurrence(annotations) == {"a": Counter({"b": 1}), "b": Counter({"a": 1})}


def test_popular_negatives_are_the_most_frequent_absent_objects():
    questions = _by_image(build_pope(POPULAR_ANNOTATIONS, "popular", seed=0, max_positives=3))
    assert questions == {
        "i0": {"yes": ["z"], "no": ["y"]},
        "i1": {"yes": ["z", "y"], "no": ["x", "u"]},  # u, v, w tie on frequency: by name
        "i2": {"yes": ["z", "y", "x"], "no": ["u", "v", "w"]},
        "i3": {"yes": ["z", "y"], "no": ["v", "w"]},  # only two absent objects: positives cut to two
        "i4": {"yes": ["v"], "no": ["z"]},
        "i5": {"yes": ["w"], "no": ["z"]},
    }


def test_adversarial_negatives_follow_cooccurrence_then_frequency():
    questions = _by_image(build_pope(ADVERSARIAL_ANNOTATIONS, "adversarial", seed=0, max_positives=3))
    assert questions == {
        "q0": {"yes": ["cat"], "no": ["dog"]},
        "q1": {"yes": ["dog", "mouse"], "no": ["cat", "bird"]},
    }
    popular = _by_image(build_pope(ADVERSARIAL_ANNOTATIONS, "popular", seed=0, max_positives=3))
    assert popular["q0"]["no"] == ["bird"]


def test_random_negatives_are_seeded(world_annotations):
    first = build_pope(world_annotations, "random", seed=3, max_positives=3)
    assert first == build_pope(world_annotations, "random", seed=3, max_positives=3)
    assert first != build_pope(world_annotations, "random", seed=4, max_positives=3)


@pytest.mark.parametrize("split", POPE_SPLITS)
def test_questions_are_balanced_and_truthful(world_annotations, split):
    questions = build_pope(world_annotations, split, seed=0, max_positives=3)
    truth = {a["image"]: {o["shape"]: o["hard"] is not None for o in a["objects"]} for a in world_annotations}
    assert [q["question_id"] for q in questions] == list(range(len(questions)))
    assert Counter(q["label"] for q in questions) == {"yes": len(questions) // 2, "no": len(questions) // 2}
    for image, answers in _by_image(questions).items():
        assert image.startswith("images/eval_")
        assert len(answers["yes"]) == len(answers["no"]) >= 1
        assert set(answers["yes"]) <= set(truth[image])
        assert not set(answers["no"]) & set(truth[image])
        assert len(set(answers["no"])) == len(answers["no"])
    for q in questions:
        assert q["split"] == split
        assert q["text"] == f"Is there a {q['object']} in the image?"
        assert q["hard"] == (q["label"] == "yes" and truth[q["image"]][q["object"]])
    assert any(q["hard"] for q in questions)


def test_n_images_keeps_the_first_eval_images(world_annotations):
    questions = build_pope(world_annotations, "popular", seed=0, n_images=5, max_positives=3)
    assert list(_by_image(questions)) == [f"images/eval_{i:05d}.png" for i in range(5)]


def test_unknown_split_names_it_and_the_allowed_values():
    with pytest.raises(ValueError, match=r"'bogus'.*random, popular, adversarial"):
        build_pope(POPULAR_ANNOTATIONS, "bogus", seed=0, max_positives=3)


def test_annotation_without_objects_is_reported():
    with pytest.raises(ValueError, match="record 1.*objects"):
        build_pope([_record("x", ["a"]), {"image": "y"}], "random", seed=0, max_positives=3)


def test_write_pope_writes_one_file_per_split(tmp_path):
    write_pope(tmp_path, POPULAR_ANNOTATIONS, ["random", "popular"], seed=0, max_positives=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["popular.jsonl", "random.jsonl"]
    assert read_jsonl(tmp_path / "popular.jsonl") == build_pope(POPULAR_ANNOTATIONS, "popular", seed=0, max_positives=3)


def test_jsonl_round_trip_keeps_order_and_unicode(tmp_path):
    records = [{"z": 1, "a": "crème", "n": None}, {"list": [1, 2], "nested": {"b": True}}]
    path = tmp_path / "deeper" / "out.jsonl"
    write_jsonl(path, records)
    assert read_jsonl(path) == records
    assert list(read_jsonl(path)[0]) == ["z", "a", "n"]
    assert path.read_text(encoding="utf-8").splitlines()[0] == '{"z":1,"a":"crème","n":null}'
    assert [p.name for p in path.parent.iterdir()] == ["out.jsonl"]


def test_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "out.jsonl"
    write_jsonl(path, [{"a": 1}])
    with pytest.raises(TypeError):
        write_jsonl(path, [{"a": 2}, {"a": object()}])
    assert read_jsonl(path) == [{"a": 1}]
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


@pytest.mark.parametrize("bad_line", ["{not json", "[1, 2]"])
def test_bad_line_error_names_file_and_line(tmp_path, bad_line):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"a": 1}) + "\n\n" + bad_line + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.jsonl, line 3"):
        read_jsonl(path)


def test_empty_file_error_names_file(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"empty\.jsonl is empty"):
        read_jsonl(path)


def test_require_fields_names_source_index_and_fields():
    require_fields({"a": 1, "b": 2}, ["a", "b"], "x.jsonl", 0)
    with pytest.raises(ValueError, match=r"x\.jsonl: record 4 is missing field\(s\) b, c"):
        require_fields({"a": 1}, ["a", "b", "c"], "x.jsonl", 4)
