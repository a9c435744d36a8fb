"""Open-ended answers (LLaVA-Bench): the answer table, its summary, the side-by-side samples and their report block."""

import json

import pandas as pd
import pytest
from PIL import Image

from lvlm_debias.analysis.open_ended import OPEN_COLUMNS, open_answer_frame, open_summary, side_by_side
from lvlm_debias.config import ConfigError, check_config
from lvlm_debias.report.blocks import model_blocks
from lvlm_debias.report.samples import open_samples

RECORDS = [
    {"question_id": 0, "image": "a.png", "text": "What is shown?", "label": "A red <circle>.", "category": "conv"},
    {"question_id": 1, "image": "b.png", "text": "Describe it.", "label": "Two stars.", "category": "detail"},
]


def _decoded(setting, texts):
    """decode_records' columns: every method's texts for questions 0 and 1."""
    rows = [
        {
            "setting": setting,
            "config": "T=1",
            "method": method,
            "question_id": q,
            "image": RECORDS[q]["image"],
            "text": t,
        }
        for method, pair in texts.items()
        for q, t in enumerate(pair)
    ]
    return pd.DataFrame(rows)


def test_answers_carry_question_reference_and_length():
    frame = open_answer_frame(_decoded("default", {"naive": ["a red circle", None]}), RECORDS)
    assert list(frame.columns) == OPEN_COLUMNS
    assert frame["reference"].tolist() == ["A red <circle>.", "Two stars."]
    assert frame["category"].tolist() == ["conv", "detail"] and frame["question"].tolist()[1] == "Describe it."
    assert frame["answer"].tolist() == ["a red circle", ""] and frame["words"].tolist() == [3, 0]


def test_summary_counts_length_empty_answers_and_differences_from_naive():
    decoded = pd.concat(
        [
            _decoded("default", {"naive": ["a red circle", "two stars"], "vdd-none": ["a red circle", ""]}),
            _decoded("best", {"vcd": ["one two three four", "x"]}),  # no naive at this setting
        ]
    )
    table = open_summary(open_answer_frame(decoded, RECORDS)).set_index(["setting", "method"])
    assert table.loc[("default", "naive"), ["n", "mean_words", "empty", "differs"]].tolist() == [2, 2.5, 0.0, 0.0]
    assert table.loc[("default", "vdd-none"), ["mean_words", "empty", "differs"]].tolist() == [1.5, 0.5, 0.5]
    assert table.loc[("best", "vcd"), "mean_words"] == 2.5 and pd.isna(table.loc[("best", "vcd"), "differs"])
    assert list(table.index.get_level_values("setting")) == ["default", "default", "best"]


def test_side_by_side_report_block_escapes_every_text(tmp_path):
    decoded = _decoded("default", {"naive": ["<script>alert(1)</script>", "b"], "vcd": ["c & d", "e"]})
    answers = open_answer_frame(decoded, RECORDS)
    chosen = side_by_side(answers, 1)
    assert [r["question_id"] for r in chosen["default"]] == [0]
    assert chosen["default"][0]["answers"] == {"naive": "<script>alert(1)</script>", "vcd": "c & d"}
    Image.new("RGB", (8, 8), "red").save(tmp_path / "a.png")
    samples = {setting: open_samples(rows, tmp_path) for setting, rows in chosen.items()}
    (tmp_path / "samples.json").write_text(json.dumps(samples))
    open_summary(answers).to_csv(tmp_path / "open.csv", index=False)
    blocks = model_blocks({"open_ended": tmp_path / "open.csv", "open_ended_samples": tmp_path / "samples.json"})
    (block,) = [b for b in blocks if "Open-ended" in b.title]
    html = "".join(t.html for t in block.tables)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert "c &amp; d" in html and "A red &lt;circle&gt;." in html and "data:image/png;base64," in html


def test_open_ended_dataset_must_be_configured(default_config):
    config = default_config
    config["generation"]["open_ended"] = {"dataset": "llava_bench"}
    with pytest.raises(ConfigError, match="generation.open_ended.dataset 'llava_bench' is not configured"):
        check_config(config)
    config["datasets"] = {"pope_coco": {"repo": "lmms-lab/POPE", "revision": "r", "format": "pope", "files": "*"}}
    config["generation"]["open_ended"] = {"dataset": "pope_coco"}
    with pytest.raises(ConfigError, match="has format 'pope': open-ended answers need"):
        check_config(config)
