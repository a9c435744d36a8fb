"""What the model card records about a trained model: held-out naive accuracy and the prior it actually carries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from transformers import PreTrainedModel, ProcessorMixin

from lvlm_debias.data.pope import QUESTION_TEMPLATE
from lvlm_debias.methods.calibration import normalise
from lvlm_debias.models.corpus import COLOUR_TEMPLATE
from lvlm_debias.models.prompts import build_prompt
from lvlm_debias.scoring.labels import YES_NO
from lvlm_debias.scoring.score import load_image, score_prompts


def measured_prior(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    shapes: Sequence[str],
    colours: Sequence[str],
    template: str,
    prior_colour: str,
) -> dict[str, float | str]:
    """Mean P(yes) to "Is there a {shape} ...?" under the None and Unk inputs (normalised over yes/no), and the
    share of colour answers to "What colour is the {shape}?" under None that is the prior colour."""
    existence = [build_prompt(template, QUESTION_TEMPLATE.format(object=s)) for s in shapes]
    colour_prompts = [build_prompt(template, COLOUR_TEMPLATE.format(object=s)) for s in shapes]
    out: dict[str, float | str] = {}
    for probe in ("none", "unk"):
        p = normalise(score_prompts(model, processor, existence, probe, YES_NO)[0].numpy())
        out[f"p_yes_{probe}"] = float(p[:, 0].mean())
    colour_labels = {c: [c] for c in colours}
    p_colour = normalise(score_prompts(model, processor, colour_prompts, "none", colour_labels)[0].numpy()).mean(axis=0)
    out["colour_top_none"] = colours[int(p_colour.argmax())]
    out["p_prior_colour_none"] = float(p_colour[list(colours).index(prior_colour)])
    return out


def heldout_accuracy(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    scenes: Sequence[Mapping],
    image_root: Path,
    shapes: Sequence[str],
    template: str,
    seed: int,
) -> dict[str, float]:
    """Naive accuracy on balanced existence questions about held-out scenes (one present, one absent object each)."""
    rng = np.random.default_rng(seed)
    prompts, images, labels = [], [], []
    for scene in scenes:
        present = [o["shape"] for o in scene["objects"]]
        absent = [s for s in shapes if s not in present]
        image = load_image(image_root, scene)
        for shape, label in ((present[rng.integers(len(present))], "yes"), (absent[rng.integers(len(absent))], "no")):
            prompts.append(build_prompt(template, QUESTION_TEMPLATE.format(object=shape)))
            images.append(image)
            labels.append(label)
    p = normalise(score_prompts(model, processor, prompts, "naive", YES_NO, images=images)[0].numpy())
    predictions = np.where(p[:, 0] >= p[:, 1], "yes", "no")
    correct = predictions == np.array(labels)
    return {
        "heldout_naive_accuracy": float(correct.mean()),
        "heldout_naive_yes_ratio": float((predictions == "yes").mean()),
        "heldout_questions": len(labels),
    }
