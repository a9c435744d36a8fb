"""CHAIR: object hallucination in open-ended captions (Rohrbach et al., 2018), against ground-truth objects.

A caption's object mentions are found with a vocabulary that maps each object to its synonyms (words or phrases,
from config, so the same code serves ShapesWorld's shapes and COCO's 80 categories). A mention is hallucinated when
its object is not among the image's ground-truth objects. Over a set of captions:

    CHAIR_i = (hallucinated object mentions) / (all object mentions)
    CHAIR_s = (captions with at least one hallucinated mention) / (all captions)
    recall  = (ground-truth objects mentioned, once each per caption) / (ground-truth objects, once each per caption)
    length  = mean number of words per caption

Every mention counts in CHAIR_i (a caption naming the same absent object twice hallucinates twice), as in the
original implementation. Matching is case-insensitive on whole words; longer synonyms win over shorter ones that they
contain ("fire hydrant" over "hydrant"), and words inside a matched phrase are not matched again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")


@dataclass(frozen=True)
class Mention:
    """One object mention: its canonical ``object``, the matched text span ``[start, end)`` of the caption, and
    whether it is ``hallucinated`` (not a ground-truth object)."""

    object: str
    start: int
    end: int
    hallucinated: bool


def synonym_table(vocabulary: Mapping[str, Sequence[str]]) -> dict[tuple[str, ...], str]:
    """Word tuples of every synonym (the object's own name included) -> the canonical object.

    Raises ``ValueError`` naming the phrase when one phrase is given for two objects.
    """
    table: dict[tuple[str, ...], str] = {}
    for obj, synonyms in vocabulary.items():
        for phrase in [obj, *synonyms]:
            words = tuple(WORD.findall(str(phrase).lower()))
            if not words:
                raise ValueError(f"object {obj!r}: synonym {phrase!r} has no words")
            if table.get(words, obj) != obj:
                raise ValueError(f"synonym {phrase!r} is given for both {table[words]!r} and {obj!r}")
            table[words] = obj
    return table


def find_mentions(caption: str, table: Mapping[tuple[str, ...], str], truth: Sequence[str] = ()) -> list[Mention]:
    """Object mentions of ``caption`` in order, each marked hallucinated unless its object is in ``truth``."""
    tokens = [(m.group(), m.start(), m.end()) for m in WORD.finditer(caption.lower())]
    longest = max((len(k) for k in table), default=0)
    present = set(truth)
    mentions, i = [], 0
    while i < len(tokens):
        for n in range(min(longest, len(tokens) - i), 0, -1):
            obj = table.get(tuple(t[0] for t in tokens[i : i + n]))
            if obj is not None:
                mentions.append(Mention(obj, tokens[i][1], tokens[i + n - 1][2], obj not in present))
                i += n
                break
        else:
            i += 1
    return mentions


def caption_segments(caption: str, mentions: Sequence[Mention]) -> list[tuple[str, str | None]]:
    """``caption`` cut into (text, mark) pieces for display: mark is "hallucinated", "correct" or None."""
    out, at = [], 0
    for m in mentions:
        if m.start > at:
            out.append((caption[at : m.start], None))
        out.append((caption[m.start : m.end], "hallucinated" if m.hallucinated else "correct"))
        at = m.end
    if at < len(caption):
        out.append((caption[at:], None))
    return out


def chair_metrics(
    captions: Sequence[str], truths: Sequence[Sequence[str]], vocabulary: Mapping[str, Sequence[str]]
) -> dict[str, float]:
    """CHAIR_i, CHAIR_s, object recall and mean length (words) of ``captions`` against ``truths`` (the
    ground-truth objects of each caption's image, canonical names); see the module docstring for the formulas."""
    if len(captions) != len(truths):
        raise ValueError(f"{len(captions)} captions but {len(truths)} ground-truth object lists")
    if not captions:
        raise ValueError("CHAIR needs at least one caption")
    table = synonym_table(vocabulary)
    unknown = sorted({o for t in truths for o in t} - set(table.values()))
    if unknown:
        raise ValueError(f"ground-truth objects {unknown} are not in the CHAIR vocabulary {sorted(vocabulary)}")
    mentions = hallucinated = with_hallucination = found = truth_total = words = 0
    for caption, truth in zip(captions, truths, strict=True):
        found_here = find_mentions(caption, table, truth)
        bad = sum(m.hallucinated for m in found_here)
        mentions += len(found_here)
        hallucinated += bad
        with_hallucination += bad > 0
        found += len({m.object for m in found_here} & set(truth))
        truth_total += len(set(truth))
        words += len(WORD.findall(caption.lower()))
    return {
        "chair_i": hallucinated / mentions if mentions else 0.0,
        "chair_s": with_hallucination / len(captions),
        "recall": found / truth_total if truth_total else 0.0,
        "length": words / len(captions),
        "mentions": mentions,
        "captions": len(captions),
    }
