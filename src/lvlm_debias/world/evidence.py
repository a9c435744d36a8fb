"""Evaluation images at a chosen strength of visual evidence, for the controlled study (``make study``).

An evidence level is the ShapesWorld of the run with another ``hard_share``: the probability that an object is drawn
hard to see (small, low contrast or partly covered; ``world.scenes.HARD_KINDS``). At 0 every object is plain to
see, at 1 every object is hard. The models are not retrained for this axis: only the evaluation images change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from lvlm_debias.data.jsonl import read_jsonl, write_jsonl
from lvlm_debias.data.pope import build_pope
from lvlm_debias.world.scenes import world_spec, write_world

#: "yes" questions per image of a level (the study has no setting of its own for it: POPE's usual 3)
LEVEL_MAX_POSITIVES = 3


def write_level(
    out_dir: str | Path, world: Mapping, hard_share: float, n_images: int, seed: int, split: str
) -> list[dict]:
    """Write ``out_dir/images/``, ``out_dir/annotations.jsonl`` (``n_images`` eval images of the config ``world``
    with ``hard_share``, generated with ``seed``) and ``out_dir/questions.jsonl``: POPE questions with ``split``'s
    negative sampling (``data.pope.build_pope``; each question's ``hard`` says whether its object is hard to see).
    Returns the questions."""
    out = Path(out_dir)
    spec = replace(world_spec({"world": world}), hard_share=hard_share)
    write_world(out, spec, n_train=0, n_eval=n_images, seed=seed)
    questions = build_pope(read_jsonl(out / "annotations.jsonl"), split, seed, max_positives=LEVEL_MAX_POSITIVES)
    write_jsonl(out / "questions.jsonl", questions)
    return questions
