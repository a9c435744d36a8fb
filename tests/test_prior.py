"""Prior probing: the probed image lacks the object; top answers per probe, most likely first."""

import pytest
from test_probes import _image

from lvlm_debias.analysis.prior import image_without, prior_probing, top_answers
from lvlm_debias.models.prompts import LLAVA_HF, build_prompt


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
    table = top_answers(model, processor, prompt, _image(0), top=5)
    assert list(table["probe"].unique()) == ["naive", "none", "unk", "noise", "zero", "one"]
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
