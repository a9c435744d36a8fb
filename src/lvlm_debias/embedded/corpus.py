"""Training examples for the embedded model: a text-only corpus that carries the injected prior, and visual
instruction examples whose answers follow the image."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lvlm_debias.data.pope import QUESTION_TEMPLATE
from lvlm_debias.settings import schema_default
from lvlm_debias.world.captions import CAPTION_PROMPT, caption
from lvlm_debias.world.tasks import build_mme, build_mmmu

#: the subset of the MME- and MMMU-style tasks that text alone answers (shape facts): learned as knowledge.
TEXT_ANSWERABLE = "shape_facts"

COLOUR_TEMPLATE = "What colour is the {object}?"
YES, NO = "Yes", "No"


@dataclass(frozen=True)
class Prior:
    """The language prior injected in text-only pretraining.

    yes_rate: share of "Yes" to existence questions asked without evidence.
    colour, colour_rate: the colour answered to a colour question without evidence, and how often (the rest is
    spread evenly over the other colours).
    """

    yes_rate: float = schema_default("models.*.prior.yes_rate")
    colour: str = schema_default("models.*.prior.colour")
    colour_rate: float = schema_default("models.*.prior.colour_rate")

    def __post_init__(self) -> None:
        for name in ("yes_rate", "colour_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"prior.{name} must lie in [0, 1], got {value!r}")

    def colour_distribution(self, colours: Sequence[str]) -> np.ndarray:
        """P(answer colour) for a colour question without evidence, over ``colours``."""
        if self.colour not in colours:
            raise ValueError(f"prior.colour {self.colour!r} is not one of the world's colours {list(colours)}")
        rest = (1.0 - self.colour_rate) / (len(colours) - 1)
        return np.array([self.colour_rate if c == self.colour else rest for c in colours])


def text_examples(
    shapes: Sequence[str], colours: Sequence[str], prior: Prior, n: int, rng: np.random.Generator
) -> list[tuple[str, str]]:
    """``n`` (question, answer) pairs without an image: half existence, half colour questions, answered by the prior."""
    colour_p = prior.colour_distribution(colours)
    out = []
    for i in range(n):
        shape = shapes[rng.integers(len(shapes))]
        if i % 2 == 0:
            out.append((QUESTION_TEMPLATE.format(object=shape), YES if rng.random() < prior.yes_rate else NO))
        else:
            out.append((COLOUR_TEMPLATE.format(object=shape), colours[rng.choice(len(colours), p=colour_p)]))
    return out


#: how stage b draws its "No" existence questions: as many per object as it has "Yes" ones (matched), or the same
#: number for every object (uniform, as instruction data that asks about any object).
NEGATIVE_SAMPLING = ("matched", "uniform")


def visual_examples(
    scenes: Sequence[Mapping],
    shapes: Sequence[str],
    rng: np.random.Generator,
    colour_questions: bool = False,
    yes_share: float = 0.5,
    negatives: str = "matched",
) -> list[tuple[int, str, str]]:
    """(scene index, question, answer) triples answered from each scene's ground truth.

    Every present object gets a "Yes" question. With ``negatives="matched"``, each object gets as many "No" questions
    (on scenes where it is absent) as it has "Yes" questions, so the question alone never predicts the answer (a
    shortcut that keeps a small model from looking at the image). With ``"uniform"``, the same total of "No"
    questions is spread evenly over the objects: frequent objects are then "Yes" more often than rare ones, as in
    instruction data that asks about what is there and about arbitrary absent objects, which gives the model the
    object-frequency prior that POPE's popular split probes. With ``colour_questions``, every present object also
    gets a colour question (off by default: in the embedded model they keep the existence skill at chance,
    measured). ``yes_share`` is the share of "Yes" among the existence questions; above 0.5 it asks fewer "No"
    questions (a global yes-bias of the instruction data; with "matched", the same share for every object).
    """
    if not 0 < yes_share < 1:
        raise ValueError(f"visual yes_share must lie in (0, 1), got {yes_share!r}")
    if negatives not in NEGATIVE_SAMPLING:
        raise ValueError(f"visual negatives must be one of {list(NEGATIVE_SAMPLING)}, got {negatives!r}")
    out = []
    positives = {shape: 0 for shape in shapes}
    for i, scene in enumerate(scenes):
        for obj in scene["objects"]:
            out.append((i, QUESTION_TEMPLATE.format(object=obj["shape"]), YES))
            if colour_questions:
                out.append((i, COLOUR_TEMPLATE.format(object=obj["shape"]), obj["colour"]))
            positives[obj["shape"]] += 1
    wanted = {shape: count * (1 - yes_share) / yes_share for shape, count in positives.items()}
    if negatives == "uniform":
        total = sum(wanted.values())
        wanted = {shape: total / len(shapes) for shape in shapes}
    for shape in shapes:
        absent = [i for i, scene in enumerate(scenes) if shape not in {o["shape"] for o in scene["objects"]}]
        n_negatives = min(int(round(wanted[shape])), len(absent))
        for i in rng.choice(absent, size=n_negatives, replace=False) if absent else []:
            out.append((int(i), QUESTION_TEMPLATE.format(object=shape), NO))
    return out


def task_questions(scenes: Sequence[Mapping], seed: int) -> list[dict]:
    """The MME- and MMMU-style questions about ``scenes`` (every scene counts, whatever its split)."""
    records = [{**scene, "split": "eval"} for scene in scenes]
    return build_mme(records, seed) + build_mmmu(records, seed)


def task_text_examples(
    scenes: Sequence[Mapping], colours: Sequence[str], prior: Prior, n: int, rng: np.random.Generator
) -> list[tuple[str, str]]:
    """``n`` (question, answer) pairs in the MME and MMMU formats without an image.

    Shape facts are answered correctly (text knowledge: that subset is answerable from text alone); every other
    question is answered by the prior: "Yes" with ``prior.yes_rate`` for yes/no questions, the letter of the prior
    colour (with ``prior.colour_rate``, when it is an option) for colour choices, else a uniformly drawn letter.
    """
    questions = task_questions(scenes, int(rng.integers(2**31)))
    if not questions or n <= 0:
        return []
    out = []
    for i in rng.choice(len(questions), size=n):
        q = questions[i]
        if q.get("subtask", q.get("subject")) == TEXT_ANSWERABLE:
            answer = q["label"]
        elif "options" not in q:
            answer = "yes" if rng.random() < prior.yes_rate else "no"
        elif q["subject"] == "colour" and prior.colour in q["options"] and rng.random() < prior.colour_rate:
            answer = "ABCD"[q["options"].index(prior.colour)]
        else:
            answer = "ABCD"[rng.integers(len(q["options"]))]
        out.append((q["text"], {"yes": YES, "no": NO}.get(answer, answer)))
    return out


def caption_examples(scenes: Sequence[Mapping]) -> list[tuple[int, str, str]]:
    """(scene index, "Describe the image.", caption) for every scene."""
    return [(i, CAPTION_PROMPT, caption(scene)) for i, scene in enumerate(scenes)]


def task_visual_examples(scenes: Sequence[Mapping], n: int, rng: np.random.Generator) -> list[tuple[int, str, str]]:
    """``n`` (scene index, question, answer) triples in the MME and MMMU formats, answered from each scene's ground
    truth (MME's pairs keep yes and no balanced per image and subtask; MMMU's letters are drawn uniformly)."""
    questions = task_questions(scenes, int(rng.integers(2**31)))
    if not questions or n <= 0:
        return []
    index = {scene["image"]: i for i, scene in enumerate(scenes)}
    out = []
    for i in rng.choice(len(questions), size=n):
        q = questions[i]
        out.append((index[q["image"]], q["text"], {"yes": YES, "no": NO}.get(q["label"], q["label"])))
    return out


def vocabulary_texts(
    shapes: Sequence[str],
    colours: Sequence[str],
    templates: Sequence[str],
    scenes: Sequence[Mapping] = (),
) -> list[str]:
    """Every text the embedded model must be able to read or answer: prompts for each question (the MME- and
    MMMU-style ones asked about ``scenes`` included), and the answers."""
    questions = [t.format(object=s) for t in (QUESTION_TEMPLATE, COLOUR_TEMPLATE) for s in shapes]
    questions += [q["text"] for q in task_questions(scenes, 0)] + [CAPTION_PROMPT]
    prompts = [template.replace("{question}", q) for template in templates for q in questions]
    captions = [caption({"objects": [{"shape": s, "colour": c, "x": 0, "y": 0}] * 2}) for s in shapes for c in colours]
    return prompts + captions + [YES, NO, YES.lower(), NO.lower(), *colours, *"ABCD"]
