"""The distinct (image, question) pairs of a benchmark source, scored once and fanned out to every split that asks them.

POPE puts the same 500 images in its three splits, and positives repeat across splits: of the 9000 questions of a
POPE source only about 5170 are distinct. Scoring each distinct pair once, grouped by image (one prefix pass per
image, :mod:`lvlm_debias.scoring.prefix`), and then giving every split's questions their pair's rows, does each
forward pass once.

Batches are fixed for the whole source (consecutive images' questions, whole images where they fit), and a shard is a
contiguous run of whole batches, so any number of shards computes exactly the same batches: the tables do not depend
on the shard count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

PAIR_FIELDS = ("image", "text")


@dataclass(frozen=True)
class Pairs:
    """``pairs``: the distinct pairs (``pair_id`` = position, ``image``, ``text``, ``label``), grouped by image in
    order of first appearance, each image's texts in order of first appearance; ``of_split``: for each split the pair
    id of each of its questions, in question order."""

    pairs: list[dict]
    of_split: dict[str, list[int]]


def distinct_pairs(questions_by_split: Mapping[str, Sequence[Mapping]]) -> Pairs:
    """The distinct (image, text) pairs of the splits' questions. A pair's ``label`` is its first question's; the
    scores do not depend on it, and each split's table takes its own questions' labels
    (:func:`lvlm_debias.scoring.gather.split_tables`)."""
    first_image: dict[str, int] = {}
    first_text: dict[tuple[str, str], int] = {}
    label: dict[tuple[str, str], str] = {}
    n = 0
    for questions in questions_by_split.values():
        for q in questions:
            key = (q["image"], q["text"])
            first_image.setdefault(q["image"], n)
            if key not in first_text:
                first_text[key] = n
                label[key] = q["label"]
            n += 1
    keys = sorted(first_text, key=lambda k: (first_image[k[0]], first_text[k]))
    pair_id = {key: i for i, key in enumerate(keys)}
    pairs = [{"pair_id": i, "image": k[0], "text": k[1], "label": label[k]} for i, k in enumerate(keys)]
    of_split = {
        split: [pair_id[(q["image"], q["text"])] for q in questions] for split, questions in questions_by_split.items()
    }
    return Pairs(pairs, of_split)


def image_batches(pairs: Sequence[Mapping], batch_size: int) -> list[list[int]]:
    """Pair indices per batch: consecutive images' pairs, at most ``batch_size`` rows a batch, an image's pairs kept
    together unless it alone has more than ``batch_size`` (then its own batches)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    groups: list[list[int]] = []
    for i, pair in enumerate(pairs):
        if groups and pairs[groups[-1][0]]["image"] == pair["image"]:
            groups[-1].append(i)
        else:
            groups.append([i])
    batches: list[list[int]] = []
    current: list[int] = []
    for group in groups:
        if len(current) + len(group) > batch_size and current:
            batches.append(current)
            current = []
        if len(group) > batch_size:
            batches += [group[k : k + batch_size] for k in range(0, len(group), batch_size)]
        else:
            current += group
    return batches + ([current] if current else [])


def shard_batches(batches: Sequence[Sequence[int]], shard: int, shards: int) -> list[list[int]]:
    """The batches of ``shard`` (0-based) among ``shards`` contiguous runs of whole batches (some may be empty)."""
    if shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards!r}")
    if not 0 <= shard < shards:
        raise ValueError(f"shard must lie in [0, {shards - 1}], got {shard!r}")
    per_shard = -(-len(batches) // shards)
    return [list(b) for b in batches[shard * per_shard : (shard + 1) * per_shard]]
