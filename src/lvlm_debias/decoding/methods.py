"""The decoding methods by name: ``DECODING_METHODS``, read by generation, the config checks, the first-token
analyses and the report instead of switching on a method's name. A new decoding method is one file (a
:class:`~lvlm_debias.decoding.base.DecodingMethod` subclass, see ``docs/extending.md``), one line here, and its name
in ``config/schema.yaml``'s ``generation.methods`` enum (``tests/test_decoding_methods.py`` keeps them equal)."""

from __future__ import annotations

from collections.abc import Sequence

from lvlm_debias.decoding.base import DecodingMethod, Naive
from lvlm_debias.decoding.beams import OPERA, BeamSearch
from lvlm_debias.decoding.icd import ICD
from lvlm_debias.decoding.m3id import M3ID
from lvlm_debias.decoding.vdd import ContrastiveDecoding

NAIVE = "naive"

#: every decoding method, in the paper's order of comparison (the tables' order)
DECODING_METHODS: dict[str, DecodingMethod] = {
    NAIVE: Naive(),
    "vcd": ContrastiveDecoding(references=("vcd-noise",)),
    "vdd-none": ContrastiveDecoding(references=("none",)),
    "vdd-unk": ContrastiveDecoding(references=("unk",)),
    "vdd-both": ContrastiveDecoding(references=("none", "unk")),
    "m3id": M3ID(),
    "icd": ICD(),
    "beam": BeamSearch(),
    "opera": OPERA(),
}


def decoding_method(name: str) -> DecodingMethod:
    """The decoding method called ``name``, or a ValueError naming the known ones."""
    if name not in DECODING_METHODS:
        raise ValueError(f"unknown decoding method {name!r}; known: {list(DECODING_METHODS)}")
    return DECODING_METHODS[name]


def stored_contrasts(stored: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The plain contrastive decoding methods (:class:`ContrastiveDecoding` itself, not a subclass that may change
    the formula) whose every reference is among ``stored``, with their references, in registry order: their first
    step is a function of stored logits (``scoring.store``'s reference inputs), so the official reading and the
    first-token contrast grid derive it without generating."""
    return {
        name: method.references
        for name, method in DECODING_METHODS.items()
        if type(method) is ContrastiveDecoding and set(method.references) <= set(stored)
    }
