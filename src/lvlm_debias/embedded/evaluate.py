"""What the model card records about a trained model: held-out naive accuracy (overall and by difficulty) and the
prior it actually carries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from transformers import PreTrainedModel, ProcessorMixin

from lvlm_debias.calibration import normalise
from lvlm_debias.data.pope import QUESTION_TEMPLATE
from lvlm_debias.embedded.corpus import COLOUR_TEMPLATE
from lvlm_debias.inputs.images import load_image
from lvlm_debias.models.prompts import build_prompt
from lvlm_debias.scoring.labels import YES_NO
from lvlm_debias.scoring.score import score_prompts

#: how the model card's checks score (their own choice, not a config setting: no rule feeds them)
SCORING = {"top_k": 100, "batch_size": 32}

#: question groups of the model card's held-out evaluation (``heldout_accuracy``), the pooled ones last.
DIFFICULTY_GROUPS = ("positive_easy", "positive_hard", "negative_easy", "negative_hard", "easy", "hard")


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
        p = normalise(score_prompts(model, processor, existence, probe, YES_NO, **SCORING)[0].numpy())
        out[f"p_yes_{probe}"] = float(p[:, 0].mean())
    colour_labels = {c: [c] for c in colours}
    p_colour = normalise(
        score_prompts(model, processor, colour_prompts, "none", colour_labels, **SCORING)[0].numpy()
    ).mean(axis=0)
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
) -> dict:
    """Naive (first-token argmax) answers to balanced existence questions about held-out scenes, overall and by
    difficulty: every present object is asked about, and as many absent ones (drawn uniformly).

    A positive is hard when its object is hard to see (small, low contrast or occluded). A negative is hard when its
    image holds a hard object: the evidence that the asked object is absent is weakest there, so that is where the
    language prior (yes) should leak. ``heldout_by_difficulty`` gives, per group, the questions, the accuracy and the
    yes-ratio (on negatives the yes-ratio is the false-positive rate, on positives the recall); "easy" and "hard"
    pool the positives and negatives of that difficulty.
    """
    rng = np.random.default_rng(seed)
    prompts, images, labels, groups = [], [], [], []
    for scene in scenes:
        hard_by_shape: dict[str, bool] = {}
        for obj in scene["objects"]:  # a shape drawn twice is hard only if every copy is
            hard_by_shape[obj["shape"]] = hard_by_shape.get(obj["shape"], True) and bool(obj.get("hard"))
        absent = [s for s in shapes if s not in hard_by_shape]
        n_negatives = min(len(hard_by_shape), len(absent))
        hard_image = any(hard_by_shape.values())
        image = load_image(image_root, scene)
        asked = [(shape, "yes", "positive_" + ("hard" if hard else "easy")) for shape, hard in hard_by_shape.items()]
        asked += [
            (str(shape), "no", "negative_" + ("hard" if hard_image else "easy"))
            for shape in rng.choice(absent, size=n_negatives, replace=False)
        ]
        for shape, label, group in asked:
            prompts.append(build_prompt(template, QUESTION_TEMPLATE.format(object=shape)))
            images.append(image)
            labels.append(label)
            groups.append(group)
    p = normalise(score_prompts(model, processor, prompts, "naive", YES_NO, images=images, **SCORING)[0].numpy())
    predictions = np.where(p[:, 0] >= p[:, 1], "yes", "no")
    labels, groups = np.array(labels), np.array(groups)
    correct = predictions == labels

    def summary(mask: np.ndarray) -> dict[str, float | int]:
        n = int(mask.sum())
        return {
            "questions": n,
            "accuracy": float(correct[mask].mean()) if n else float("nan"),
            "yes_ratio": float((predictions[mask] == "yes").mean()) if n else float("nan"),
        }

    by_difficulty = {group: summary(groups == group) for group in DIFFICULTY_GROUPS[:4]}
    for difficulty in ("easy", "hard"):
        by_difficulty[difficulty] = summary(np.char.endswith(groups.astype(str), "_" + difficulty))
    return {
        "heldout_naive_accuracy": float(correct.mean()),
        "heldout_naive_yes_ratio": float((predictions == "yes").mean()),
        "heldout_questions": len(labels),
        "heldout_by_difficulty": by_difficulty,
    }
