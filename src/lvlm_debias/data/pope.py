"""POPE-style yes/no object questions, sampled the way POPE samples them.

For each evaluation image, POPE asks about up to three objects that are present
(answer "yes") and as many that are absent (answer "no"). The absent objects are
chosen in one of three ways (Li et al., 2023):

- ``random``: uniformly among the absent objects;
- ``popular``: the absent objects that are most frequent over the dataset;
- ``adversarial``: the absent objects that co-occur most with the objects present.

Annotations are records ``{"image": path, "objects": [{"name" or "shape": ..., "hard": ...}, ...]}``,
optionally with ``"split"``; the shapes world and converted COCO annotations share this layout.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from lvlm_debias.data.jsonl import require_fields, write_jsonl

QUESTION_TEMPLATE = "Is there a {object} in the image?"
POPE_SPLITS: tuple[str, ...] = ("random", "popular", "adversarial")


def object_name(obj: dict, index: int) -> str:
    name = obj.get("name", obj.get("shape"))
    if name is None:
        raise ValueError(f"annotations: record {index} has an object without a 'name' or 'shape' key: {obj!r}")
    return str(name)


def _present_objects(record: dict, index: int) -> dict[str, bool]:
    """Object name -> hard flag, in first-seen order; a name is hard only if every instance of it is hard."""
    require_fields(record, ("image", "objects"), "annotations", index)
    present: dict[str, bool] = {}
    for obj in record["objects"]:
        name = object_name(obj, index)
        present[name] = present.get(name, True) and bool(obj.get("hard"))
    return present


def object_frequencies(annotations: list[dict]) -> Counter:
    """Number of images in which each object appears (an object counts once per image)."""
    counts: Counter = Counter()
    for index, record in enumerate(annotations):
        counts.update(list(_present_objects(record, index)))
    return counts


def cooccurrence(annotations: list[dict]) -> dict[str, Counter]:
    """For each object a, ``result[a][b]`` is the number of images holding both a and b (b != a)."""
    table: dict[str, Counter] = {}
    for index, record in enumerate(annotations):
        names = list(_present_objects(record, index))
        for a in names:
            table.setdefault(a, Counter()).update(b for b in names if b != a)
    return table


def _negatives(
    split: str,
    absent: list[str],
    present: list[str],
    k: int,
    frequencies: Counter,
    table: dict[str, Counter],
    rng: np.random.Generator,
) -> list[str]:
    """The ``k`` absent objects POPE's ``split`` asks about; ``absent`` is sorted by name."""
    if split == "random":
        return [absent[i] for i in rng.choice(len(absent), size=k, replace=False)]
    if split == "popular":
        return sorted(absent, key=lambda name: (-frequencies[name], name))[:k]

    def pull(name: str) -> int:
        return sum(table.get(p, Counter())[name] for p in present)

    return sorted(absent, key=lambda name: (-pull(name), -frequencies[name], name))[:k]


def build_pope(
    annotations: list[dict],
    split: str,
    seed: int,
    n_images: int | None = None,
    *,
    max_positives: int,
) -> list[dict]:
    """POPE questions for the eval images of ``annotations`` with negatives sampled by ``split``.

    Each image gives ``k = min(max_positives, #present, #absent)`` "yes" questions
    about its first ``k`` objects and ``k`` "no" questions about absent objects, so
    labels are balanced per image. The vocabulary, object frequencies and
    co-occurrence counts come from all of ``annotations``; questions come only from
    records whose ``split`` is ``"eval"`` (records without a split all count),
    limited to the first ``n_images`` of them. ``seed`` drives the ``random`` split.
    """
    if split not in POPE_SPLITS:
        raise ValueError(f"unknown POPE split {split!r}; allowed: {', '.join(POPE_SPLITS)}")
    frequencies = object_frequencies(annotations)
    table = cooccurrence(annotations)
    vocabulary = sorted(frequencies)
    images = [record for record in annotations if record.get("split", "eval") == "eval"][:n_images]
    rng = np.random.default_rng(seed)
    questions: list[dict] = []
    for index, record in enumerate(images):
        present = _present_objects(record, index)
        absent = [name for name in vocabulary if name not in present]
        k = min(max_positives, len(present), len(absent))
        if k == 0:
            continue
        positives = [(name, "yes", present[name]) for name in list(present)[:k]]
        chosen = _negatives(split, absent, list(present), k, frequencies, table, rng)
        for name, label, hard in positives + [(name, "no", False) for name in chosen]:
            questions.append(
                {
                    "question_id": len(questions),
                    "image": record["image"],
                    "text": QUESTION_TEMPLATE.format(object=name),
                    "label": label,
                    "split": split,
                    "object": name,
                    "hard": hard,
                }
            )
    return questions


def write_pope(
    out_dir: str | Path,
    annotations: list[dict],
    splits: list[str] | tuple[str, ...],
    seed: int,
    n_images: int | None = None,
    *,
    max_positives: int,
) -> None:
    """Write ``out_dir/{split}.jsonl`` holding ``build_pope(annotations, split, seed, n_images, ...)`` per split."""
    for split in splits:
        write_jsonl(
            Path(out_dir) / f"{split}.jsonl",
            build_pope(annotations, split, seed, n_images, max_positives=max_positives),
        )
