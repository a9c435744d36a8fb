"""Prior probing: the probed image lacks the object; top answers per probe, most likely first."""

import pandas as pd
import pytest
from test_probes import _image

from lvlm_debias.analysis.prior import prior_findings, top_answers_summary
from lvlm_debias.models.prompts import LLAVA_HF, build_prompt
from lvlm_debias.scoring.prior import image_without, prior_probing, top_answers


def test_image_without_the_object():
    records = [
        {"image": "a.png", "split": "train", "objects": [{"shape": "star"}]},
        {"image": "b.png", "split": "eval", "objects": [{"shape": "heart"}]},
        {"image": "c.png", "split": "eval", "objects": [{"shape": "star"}]},
    ]
    assert image_without(records, "heart")["image"] == "c.png"  # a.png is a training image
    with pytest.raises(ValueError, match="no eval image lacks the object 'circle'"):
        image_without([{"image": "x.png", "objects": [{"shape": "circle"}]}], "circle")


def test_top_answers_per_probe(tiny_llava, tmp_path):
    model, processor = tiny_llava
    prompt = build_prompt(LLAVA_HF, "What colour is the star?")
    probes = ["naive", "none", "unk", "noise", "zero", "one"]
    table = top_answers(model, processor, prompt, _image(0), probes, top=5)
    assert list(table["probe"].unique()) == probes
    for _, rows in table.groupby("probe"):
        assert list(rows["rank"]) == [1, 2, 3, 4, 5]
        assert rows["probability"].is_monotonic_decreasing and rows["probability"].sum() <= 1 + 1e-6
    _image(1).save(tmp_path / "e.png")
    records = [{"image": "e.png", "split": "eval", "objects": [{"shape": "circle"}]}]
    probed = prior_probing(
        model,
        processor,
        [{"text": "What colour is the star?", "absent": "star"}],
        records,
        tmp_path,
        LLAVA_HF,
        ["naive", "none"],
        top=3,
    )
    assert set(probed["image"]) == {"e.png"} and len(probed) == 6


def test_summary_and_findings_by_hand():
    table = pd.DataFrame(
        {
            "question": ["q?"] * 4,
            "probe": ["naive", "naive", "none", "none"],
            "rank": [1, 2, 1, 2],
            "answer": ["yes", "no", "red", "blue"],
            "probability": [0.6, 0.4, 0.7, 0.1],
        }
    )
    summary = top_answers_summary(table, shown=2)
    assert summary.loc[0, "none"] == "red 70%, blue 10%" and summary.loc[0, "naive"] == "yes 60%, no 40%"
    assert prior_findings(table) == [
        "'q?' without visual information, none: 'red' (70 %); with the image (naive): 'yes' (60 %)."
    ]
