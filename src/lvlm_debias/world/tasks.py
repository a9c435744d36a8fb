"""MME- and MMMU-style benchmark questions over the eval images of the shapes world.

MME (Fu et al., 2023) asks, for every image and subtask, two yes/no questions, one
whose answer is "yes" and one whose answer is "no"; its score rewards getting both
right. MMMU (Yue et al., 2024) asks multiple-choice questions with lettered options.
Both are rebuilt here from annotation records ``{"image", "objects": [{"shape",
"colour", "x", ...}, ...]}`` (optionally with ``"image_id"``, ``"split"`` and
``"image_size"``). The world's vocabulary (shapes, colours, largest object count)
comes from all of the annotations; questions come from the first ``n_images``
records whose ``split`` is ``"eval"`` (records without a split all count).

An image misses a subtask or subject when it cannot be asked: no shape present or
no absent shape left (existence, shape), no shape that appears exactly once (colour), no shape clearly
on one side (position), or too few distractors for the options. ``coverage`` counts
the images each subtask or subject reached.

The ``shape_facts`` subtask and subject ask how many corners a shape has. They are
answerable from the text alone by construction (the image is irrelevant), like
MME's cognition tasks: they probe what the language model knows without the image.
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

import numpy as np

from lvlm_debias.data.convert import MMMU_SUFFIX
from lvlm_debias.data.jsonl import require_fields
from lvlm_debias.settings import schema_default

MME_SUBTASKS: tuple[str, ...] = ("existence", "count", "colour", "position", "shape_facts")
MME_GROUPS: dict[str, tuple[str, ...]] = {
    "perception": ("existence", "count", "colour", "position"),
    "cognition": ("shape_facts",),
}
MMMU_SUBJECTS: tuple[str, ...] = ("shape", "colour", "count", "shape_facts")
YES_NO_SUFFIX = "Please answer yes or no."
POSITION_MARGIN = 0.1  # a centre must lie this share of the side away from the middle to count as left/right
# Corners of each shape as drawn in shapes_world (polygon vertices; round shapes have none). The heart and the
# moon are left out: whether their points count as corners is a matter of definition.
CORNERS: dict[str, int] = {
    "circle": 0,
    "ring": 0,
    "triangle": 3,
    "square": 4,
    "diamond": 4,
    "hexagon": 6,
    "star": 10,
    "cross": 12,
}
_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")


class _World(NamedTuple):
    shapes: list[str]
    colours: list[str]
    max_count: int


def number_word(n: int) -> str:
    """``n`` as an English word for 0..12, else as digits."""
    return _WORDS[n] if 0 <= n < len(_WORDS) else str(n)


def _world(annotations: list[dict]) -> _World:
    shapes: set[str] = set()
    colours: set[str] = set()
    max_count = 1
    for index, record in enumerate(annotations):
        require_fields(record, ("image", "objects"), "annotations", index)
        for obj in record["objects"]:
            missing = [key for key in ("shape", "colour", "x") if key not in obj]
            if missing:
                raise ValueError(f"annotations: record {index} has an object without {', '.join(missing)}: {obj!r}")
            shapes.add(str(obj["shape"]))
            colours.add(str(obj["colour"]))
        max_count = max(max_count, len(record["objects"]))
    return _World(sorted(shapes), sorted(colours), max_count)


def _eval_images(annotations: list[dict], n_images: int | None) -> list[dict]:
    return [record for record in annotations if record.get("split", "eval") == "eval"][:n_images]


def _check_names(kind: str, names: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    for name in names:
        if name not in allowed:
            raise ValueError(f"unknown {kind} {name!r}; allowed: {', '.join(allowed)}")


def _pick(rng: np.random.Generator, items: list) -> object:
    return items[int(rng.integers(len(items)))]


def _sample(rng: np.random.Generator, items: list, k: int) -> list:
    return [items[i] for i in rng.choice(len(items), size=k, replace=False)]


def _single_objects(objects: list[dict]) -> list[dict]:
    """Objects whose shape appears once in the image, so that "the {shape}" names one object."""
    counts = Counter(obj["shape"] for obj in objects)
    return [obj for obj in objects if counts[obj["shape"]] == 1]


def _facts_shape(rng: np.random.Generator, objects: list[dict]) -> str:
    """A present shape with a known corner count, else any shape of ``CORNERS``."""
    present = sorted({obj["shape"] for obj in objects if obj["shape"] in CORNERS})
    return str(_pick(rng, present or list(CORNERS)))


def _mme_pair(
    subtask: str, objects: list[dict], world: _World, side: float, rng: np.random.Generator
) -> tuple[str, ...] | None:
    """The (yes, no) question texts of ``subtask`` for one image, or None when it cannot be asked."""
    present = {obj["shape"] for obj in objects}
    if subtask == "existence":
        absent = [s for s in world.shapes if s not in present]
        if not present or not absent:
            return None
        yes, no = _pick(rng, sorted(present)), _pick(rng, absent)
        return tuple(f"Is there a {s} in the image?" for s in (yes, no))
    if subtask == "count":
        n = len(objects)
        wrong = _pick(rng, [m for m in range(1, max(world.max_count, 2) + 1) if m != n])
        return tuple(
            "Is there one object in the image?" if m == 1 else f"Are there {number_word(m)} objects in the image?"
            for m in (n, wrong)
        )
    if subtask == "colour":
        single = _single_objects(objects)
        if not single or len(world.colours) < 2:
            return None
        obj = _pick(rng, single)
        wrong = _pick(rng, [c for c in world.colours if c != obj["colour"]])
        return tuple(f"Is the {obj['shape']} {c}?" for c in (obj["colour"], wrong))
    if subtask == "position":
        clear = [obj for obj in _single_objects(objects) if abs(obj["x"] - side / 2) > side * POSITION_MARGIN]
        if not clear:
            return None
        obj = _pick(rng, clear)
        sides = ("left", "right") if obj["x"] < side / 2 else ("right", "left")
        return tuple(f"Is the {obj['shape']} on the {s} side of the image?" for s in sides)
    shape = _facts_shape(rng, objects)
    wrong = _pick(rng, sorted({n for n in CORNERS.values() if n != CORNERS[shape]}))
    return tuple(f"Does a {shape} have {number_word(n)} corners?" for n in (CORNERS[shape], wrong))


def build_mme(
    annotations: list[dict],
    seed: int,
    n_images: int | None = None,
    subtasks: tuple[str, ...] = MME_SUBTASKS,
    image_size: int = schema_default("world.image_size"),
) -> list[dict]:
    """MME-style yes/no questions: for each eval image and subtask, one "yes" and one "no" question.

    Templates (each followed by " Please answer yes or no."):
    existence "Is there a {shape} in the image?" (a present shape / an absent one of the world's shapes);
    count "Are there {n} objects in the image?" or "Is there one object in the image?" (the true count /
    another in 1..max(largest count seen, 2)); colour "Is the {shape} {colour}?" (a shape appearing once in
    the image, its colour / another colour seen in the world); position "Is the {shape} on the {left|right}
    side of the image?" (a shape appearing once whose centre x satisfies |x - side/2| > 0.1 side, its side /
    the other; ``side`` is the record's ``image_size``, else ``image_size``); shape_facts "Does a {shape} have
    {n} corners?" (``CORNERS[shape]`` / another corner count in ``CORNERS``). Records carry ``subtask``,
    ``label`` and ``pair`` = f"{image_id}:{subtask}", shared by the two questions of an image and subtask.
    """
    _check_names("MME subtask", tuple(subtasks), MME_SUBTASKS)
    if image_size <= 0:
        raise ValueError(f"image_size must be positive, got {image_size}")
    world = _world(annotations)
    rng = np.random.default_rng(seed)
    questions: list[dict] = []
    for record in _eval_images(annotations, n_images):
        image_id = record.get("image_id", record["image"])
        side = float(record.get("image_size", image_size))
        for subtask in subtasks:
            texts = _mme_pair(subtask, record["objects"], world, side, rng)
            if texts is None:
                continue
            for label, text in zip(("yes", "no"), texts, strict=True):
                questions.append(
                    {
                        "question_id": len(questions),
                        "image": record["image"],
                        "text": f"{text} {YES_NO_SUFFIX}",
                        "label": label,
                        "subtask": subtask,
                        "pair": f"{image_id}:{subtask}",
                    }
                )
    return questions


def _mmmu_item(
    subject: str, objects: list[dict], world: _World, k: int, rng: np.random.Generator
) -> tuple[str, str, list[str]] | None:
    """(question, answer, ``k`` distractors) of ``subject`` for one image, or None when it cannot be asked."""
    if subject == "shape":
        absent = [s for s in world.shapes if s not in {obj["shape"] for obj in objects}]
        if not objects or len(absent) < k:
            return None
        return (
            "Which shape is in the image?",
            str(_pick(rng, [obj["shape"] for obj in objects])),
            _sample(rng, absent, k),
        )
    if subject == "colour":
        single = _single_objects(objects)
        if not single or len(world.colours) <= k:
            return None
        obj = _pick(rng, single)
        others = [c for c in world.colours if c != obj["colour"]]
        return f"What colour is the {obj['shape']}?", obj["colour"], _sample(rng, others, k)
    if subject == "count":
        n = len(objects)
        others = [number_word(m) for m in range(1, max(world.max_count, k + 1) + 1) if m != n]
        return "How many objects are in the image?", number_word(n), _sample(rng, others, k)
    shape = _facts_shape(rng, objects)
    others = [number_word(n) for n in sorted(set(CORNERS.values())) if n != CORNERS[shape]]
    if len(others) < k:
        return None
    return f"How many corners does a {shape} have?", number_word(CORNERS[shape]), _sample(rng, others, k)


def build_mmmu(
    annotations: list[dict],
    seed: int,
    n_images: int | None = None,
    subjects: tuple[str, ...] = MMMU_SUBJECTS,
    letters: tuple[str, ...] = ("A", "B", "C", "D"),
) -> list[dict]:
    """MMMU-style multiple-choice questions: one per eval image and subject, one option per letter.

    Questions: shape "Which shape is in the image?" (a present shape; distractors absent shapes); colour
    "What colour is the {shape}?" (a shape appearing once; other colours seen in the world); count "How many
    objects are in the image?" (number words from 1 to max(largest count seen, #letters)); shape_facts "How
    many corners does a {shape} have?" (other corner counts of ``CORNERS``). The answer's letter is drawn
    uniformly; the distractors fill the other letters in random order. ``text`` is the question, one line
    "{letter}. {option}" per option, then ``MMMU_SUFFIX`` (LLaVA's MMMU prompt); ``label`` is the letter.
    """
    _check_names("MMMU subject", tuple(subjects), MMMU_SUBJECTS)
    if len(letters) < 2 or len(set(letters)) != len(letters):
        raise ValueError(f"letters must be at least 2 distinct letters, got {letters!r}")
    world = _world(annotations)
    rng = np.random.default_rng(seed)
    questions: list[dict] = []
    for record in _eval_images(annotations, n_images):
        for subject in subjects:
            item = _mmmu_item(subject, record["objects"], world, len(letters) - 1, rng)
            if item is None:
                continue
            question, answer, options = item
            position = int(rng.integers(len(letters)))
            options.insert(position, answer)
            lines = [f"{letter}. {option}" for letter, option in zip(letters, options, strict=True)]
            questions.append(
                {
                    "question_id": len(questions),
                    "image": record["image"],
                    "text": "\n".join([question, *lines, MMMU_SUFFIX]),
                    "label": letters[position],
                    "subject": subject,
                    "question": question,
                    "options": options,
                    "answer": answer,
                }
            )
    return questions


def coverage(questions: list[dict], key: str) -> Counter:
    """Number of distinct images asked per ``key`` ("subtask" for MME, "subject" for MMMU)."""
    return Counter(group for group, _ in dict.fromkeys((q[key], q["image"]) for q in questions))
