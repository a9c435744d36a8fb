"""The model card's held-out evaluation by difficulty, and its summary rows in the report."""

import numpy as np
import pytest
import torch
from PIL import Image

import lvlm_debias.embedded.evaluate as evaluate
from lvlm_debias.embedded.evaluate import DIFFICULTY_GROUPS, heldout_accuracy
from lvlm_debias.report.render import _card_summary

SHAPES = ["circle", "square", "triangle", "star"]


def _scene(i, objects):
    return {"image": f"{i}.png", "objects": [{"shape": s, "hard": h} for s, h in objects]}


@pytest.fixture()
def scenes(tmp_path):
    out = [
        _scene(0, [("circle", None), ("square", "small")]),  # a hard object: its negatives are hard too
        _scene(1, [("triangle", None)]),
        _scene(2, [("star", "occluded"), ("star", None)]),  # one copy easy: the shape counts as easy
        _scene(3, [("square", "low_contrast")]),
    ]
    for scene in out:
        Image.new("RGB", (8, 8)).save(tmp_path / scene["image"])
    return out


def test_heldout_questions_are_grouped_by_difficulty(scenes, tmp_path, monkeypatch):
    """Answers "yes" to square questions only: then every count and rate below follows by hand."""

    def fake_scores(model, processor, prompts, probe, labels, images=None, **_):
        assert probe == "naive" and len(images) == len(prompts)
        yes = torch.tensor([float("square" in p) for p in prompts])
        return torch.stack([yes, 1 - yes], dim=1), None

    monkeypatch.setattr(evaluate, "score_prompts", fake_scores)
    card = heldout_accuracy(None, None, scenes, tmp_path, SHAPES, "USER: <image>\n{question} ASSISTANT:", seed=0)
    groups = card["heldout_by_difficulty"]
    assert list(groups) == list(DIFFICULTY_GROUPS)
    # positives: circle, triangle, star easy (answered no); square twice hard (answered yes)
    assert groups["positive_easy"] == {"questions": 3, "accuracy": 0.0, "yes_ratio": 0.0}
    assert groups["positive_hard"] == {"questions": 2, "accuracy": 1.0, "yes_ratio": 1.0}
    # negatives: as many as positives per image; images 0 and 3 hold hard objects (3 negatives), 1 and 2 do not (2)
    assert groups["negative_hard"]["questions"] == 3 and groups["negative_easy"]["questions"] == 2
    assert card["heldout_questions"] == 10
    # absent squares are asked only on images 1 and 2 (easy); each is answered yes, so its rate is squares / 2
    square_negatives = round(groups["negative_easy"]["yes_ratio"] * 2)
    assert groups["negative_hard"]["yes_ratio"] == 0.0
    assert groups["easy"]["questions"] == 5 and groups["hard"]["questions"] == 5
    assert groups["hard"]["accuracy"] == 1.0  # hard positives are squares (yes), hard negatives are not (no)
    assert groups["easy"]["accuracy"] == pytest.approx((2 - square_negatives) / 5)
    assert card["heldout_naive_accuracy"] == pytest.approx((2 + 3 + 2 - square_negatives) / 10)
    assert np.isfinite(card["heldout_naive_yes_ratio"])


def test_card_summary_shows_difficulty_and_the_prior_gap():
    groups = {g: {"questions": 10, "accuracy": 0.9, "yes_ratio": 0.1} for g in DIFFICULTY_GROUPS}
    groups["negative_hard"] = {"questions": 7, "accuracy": 0.7, "yes_ratio": 0.3}
    card = {
        "prior": {"yes_rate": 0.8, "colour": "red", "colour_rate": 0.7},
        "measured_prior": {"p_yes_none": 0.83, "p_yes_unk": 0.8, "colour_top_none": "red", "p_prior_colour_none": 0.7},
        "heldout_naive_accuracy": 0.9,
        "heldout_naive_yes_ratio": 0.45,
        "heldout_by_difficulty": groups,
        "training_seconds": 100.0,
        "training_cpu_seconds": 150.0,
    }
    rows = dict(_card_summary(card))
    assert rows["Measured P(yes), None input (minus injected)"] == "0.830 (+0.030)"
    assert rows["Held-out yes on negatives, images without / with a hard object"] == "0.100 (n=10) / 0.300 (n=7)"
    assert "Held-out accuracy, easy / hard objects" in rows
    assert rows["Training CPU time (s, all threads)"] == "150.0"
