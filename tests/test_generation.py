"""Generation: decoding methods inside generate on a tiny checkpoint, the decoding settings, caption questions, and
the CHAIR / classification tables, findings and side-by-side captions built from them."""

import pandas as pd
import pytest
from test_probes import _image

from lvlm_debias.analysis.generation import (
    answer_frame,
    caption_frame,
    chair_findings,
    chair_per_caption,
    chair_table,
    contrastive_findings,
    contrastive_table,
    marked_captions,
)
from lvlm_debias.benchmarks import answer_parser
from lvlm_debias.decoding.base import DecodingParameters
from lvlm_debias.decoding.decode import decode_records, decoding_setting, generate_texts
from lvlm_debias.decoding.methods import DECODING_METHODS
from lvlm_debias.decoding.sampling import DecodingConfig
from lvlm_debias.models.prompts import LLAVA_HF, build_prompt
from lvlm_debias.report.html import captions_html
from lvlm_debias.report.samples import caption_samples
from lvlm_debias.world.captions import caption_questions

PROMPT = build_prompt(LLAVA_HF, "Describe the image.")
GREEDY = DecodingConfig(do_sample=False)
SAMPLING = DecodingConfig(temperature=1.0, top_p=0.9, top_k=0)


def _generate(tiny_llava, method, config, batch_size, n=5, alpha=1.0, beta=0.1, seed=0):
    model, processor = tiny_llava
    images = [_image(i) for i in range(n)]
    keys = [f"{i}.png" for i in range(n)]
    return generate_texts(
        model, processor, [PROMPT] * n, images, keys, method, config, DecodingParameters(alpha, beta),
        max_new_tokens=6, batch_size=batch_size, seed=seed,
    )  # fmt: skip


@pytest.mark.parametrize("method", DECODING_METHODS)
def test_batching_does_not_change_greedy_texts(tiny_llava, method):
    """Left padding and the reference branches' caches line up whatever the batch: greedy texts in batches of 2
    equal those one at a time (VCD's noise is seeded per image). Checked to fail with VCD seeded per batch row."""
    assert _generate(tiny_llava, method, GREEDY, 2) == _generate(tiny_llava, method, GREEDY, 1)


def test_alpha_zero_is_naive_decoding_and_sampling_is_seeded(tiny_llava):
    """With alpha = 0 every contrastive method decodes exactly as naive (greedy); sampling reruns give the same
    texts, and another seed other texts."""
    naive = _generate(tiny_llava, "naive", GREEDY, 3)
    for method in ("vcd", "vdd-none", "vdd-unk", "vdd-both"):
        assert _generate(tiny_llava, method, GREEDY, 3, alpha=0.0, beta=1e-6) == naive
    first = _generate(tiny_llava, "vdd-both", SAMPLING, 3, seed=1)
    assert _generate(tiny_llava, "vdd-both", SAMPLING, 3, seed=1) == first
    assert _generate(tiny_llava, "vdd-both", SAMPLING, 3, seed=2) != first


def test_contrast_changes_the_texts_and_bad_arguments_are_named(tiny_llava):
    assert _generate(tiny_llava, "vdd-none", GREEDY, 5, alpha=3.0, beta=1e-6) != _generate(
        tiny_llava, "naive", GREEDY, 5
    )
    with pytest.raises(ValueError, match="unknown decoding method 'dola'"):
        _generate(tiny_llava, "dola", GREEDY, 1)
    with pytest.raises(ValueError, match="alpha must be"):
        _generate(tiny_llava, "vcd", GREEDY, 1, alpha=-1)


def test_decode_records_has_one_row_per_question_and_method(tiny_llava, tmp_path):
    model, processor = tiny_llava
    for i in range(3):
        _image(i).save(tmp_path / f"{i}.png")
    records = [{"question_id": 10 + i, "image": f"{i}.png", "text": "Describe the image."} for i in range(3)]
    frame = decode_records(
        model, processor, records, tmp_path, LLAVA_HF, ["naive", "vcd"], "default", GREEDY,
        DecodingParameters(alpha=1.0, beta=0.1), max_new_tokens=3, batch_size=2, seed=0,
    )  # fmt: skip
    assert list(frame.columns) == ["setting", "config", "method", "question_id", "image", "text"]
    assert frame["method"].tolist() == ["naive"] * 3 + ["vcd"] * 3
    assert frame["question_id"].tolist() == [10, 11, 12] * 2
    assert set(frame["config"]) == {"greedy"}


def test_decoding_settings():
    summary = pd.DataFrame({"benchmark": ["pope", "mme"], "best_sampling_config": ["T=0.2,p=0.9,k=5", "greedy"]})
    sweep = {"default": {"temperature": 1.0, "top_p": 1.0, "top_k": 0}}
    assert decoding_setting("default", sweep, None, "pope") == DecodingConfig(1.0, 1.0, 0)
    assert decoding_setting("best", sweep, summary, "pope") == DecodingConfig(0.2, 0.9, 5)
    assert decoding_setting("best", sweep, summary, "mme") == GREEDY
    for config in (GREEDY, SAMPLING, DecodingConfig(0.5, 0.95, 40)):
        assert DecodingConfig.from_name(config.name) == config
    with pytest.raises(ValueError, match="no row for benchmark 'mmmu'"):
        decoding_setting("best", sweep, summary, "mmmu")
    with pytest.raises(ValueError, match="unknown decoding setting 'fast'"):
        decoding_setting("fast", sweep, summary, "pope")
    with pytest.raises(ValueError, match="neither 'greedy' nor"):
        DecodingConfig.from_name("T=1,p=1")


def test_caption_questions_hold_the_ground_truth():
    annotations = [
        {"image": "a.png", "split": "train", "objects": [{"shape": "star", "colour": "red", "x": 1, "y": 1}]},
        {"image": "b.png", "split": "eval", "objects": [
            {"shape": "star", "colour": "red", "x": 30, "y": 1}, {"shape": "circle", "colour": "blue", "x": 2, "y": 5},
            {"shape": "star", "colour": "green", "x": 50, "y": 1}]},
        {"image": "c.png", "split": "eval", "objects": [{"shape": "heart", "colour": "red", "x": 1, "y": 1}]},
    ]  # fmt: skip
    records = caption_questions(annotations, 1)
    assert records == [
        {
            "question_id": 0,
            "image": "b.png",
            "text": "Describe the image.",
            "label": "A blue circle, a red star and a green star.",
            "objects": ["circle", "star"],
            "subset": "captions",
        }
    ]
    with pytest.raises(ValueError, match="generation.n_images is 3 but the annotations hold 2 eval images"):
        caption_questions(annotations, 3)


VOCAB = {"circle": ["circles"], "star": ["stars"], "square": []}


def _captions():
    records = [{"question_id": 0, "objects": ["circle"]}, {"question_id": 1, "objects": ["star", "square"]}]
    decoded = pd.DataFrame(
        {
            "setting": "default",
            "config": "T=1,p=1,k=0",
            "method": ["vdd-both", "vdd-both", "naive", "naive"],
            "question_id": [0, 1, 0, 1],
            "image": ["0.png", "1.png"] * 2,
            "text": ["A circle.", "A star and a <square>.", "A circle and a star.", "A circle."],
        }
    )
    return caption_frame(decoded, records)


def test_chair_table_and_findings_are_computed_from_the_captions():
    """Naive hallucinates in both captions (a star, a circle), VDD-Both in none: the table (methods in the paper's
    order) and the findings say so with the computed numbers."""
    table = chair_table(_captions(), VOCAB)
    assert table["method"].tolist() == ["naive", "vdd-both"]
    naive, vdd = table.iloc[0], table.iloc[1]
    assert (naive["chair_s"], naive["chair_i"], naive["recall"]) == (1.0, pytest.approx(2 / 3), pytest.approx(1 / 3))
    assert (vdd["chair_s"], vdd["chair_i"], vdd["recall"]) == (0.0, 0.0, 1.0)
    findings = chair_findings(table)
    assert "lowest CHAIR_s with vdd-both (0.0 % of captions hallucinate, naive 100.0 %)" in findings[0]
    assert "vdd-both -100.0 CHAIR_s / +66.7 recall" in findings[1]


def test_per_caption_chair_sums_to_the_table():
    """The per-caption rows (what the report's bootstrap resamples) give the table's CHAIR_i, CHAIR_s and recall."""
    captions = _captions()
    rows = chair_per_caption(captions, VOCAB)
    assert rows[["method", "question_id", "mentions", "hallucinated", "found", "objects"]].values.tolist() == [
        ["vdd-both", 0, 1, 0, 1, 1],
        ["vdd-both", 1, 2, 0, 2, 2],
        ["naive", 0, 2, 1, 1, 1],
        ["naive", 1, 1, 1, 0, 2],
    ]
    table = chair_table(captions, VOCAB).set_index("method")
    for method, group in rows.groupby("method"):
        assert table.loc[method, "chair_s"] == (group["hallucinated"] > 0).mean()
        assert table.loc[method, "chair_i"] == pytest.approx(group["hallucinated"].sum() / group["mentions"].sum())
        assert table.loc[method, "recall"] == pytest.approx(group["found"].sum() / group["objects"].sum())


def test_side_by_side_captions_mark_hallucinations_and_escape_text(tmp_path):
    """The report's caption table marks the naive caption's star (not in image 0) as hallucinated and escapes the
    generated text. Checked to fail with the escape() around the text removed."""
    for i in range(2):
        _image(i).save(tmp_path / f"{i}.png")
    samples = caption_samples(marked_captions(_captions(), VOCAB, "default", 2), tmp_path)
    html = captions_html(samples)
    assert html.count('<mark class="hallucinated">star</mark>') == 1
    assert html.count('<mark class="hallucinated">circle</mark>') == 1  # naive, image 1
    assert '&lt;<mark class="correct">square</mark>&gt;' in html and "<square>" not in html
    assert html.index("<th>naive</th>") < html.index("<th>vdd-both</th>")


def test_classification_answers_and_table():
    """POPE answered by generation: parsed predictions, metrics per method, the share of unclear answers."""
    records = [
        {"question_id": i, "label": label, "subset": "random", "image": f"{i}.png"}
        for i, label in enumerate(["yes", "no", "yes", "no"])
    ]
    decoded = pd.DataFrame(
        {
            "setting": "default",
            "config": "greedy",
            "method": ["naive"] * 4 + ["vdd-none"] * 4,
            "question_id": list(range(4)) * 2,
            "image": [f"{i}.png" for i in range(4)] * 2,
            "text": ["Yes", "Yes", "Yes.", "Maybe"] + ["Yes", "No", "Yes", "No"],
        }
    )
    answers = answer_frame(decoded, records, answer_parser("pope", "vcd"))
    # VCD's parser reads "Maybe" against gold "no" as "yes"; the table counts it as unclear
    assert answers["prediction"].tolist() == ["yes", "yes", "yes", "yes", "yes", "no", "yes", "no"]
    assert set(answers["parser"]) == {"vcd"}
    table = contrastive_table({"pope/random": answers})
    assert set(table["parser"]) == {"vcd"}  # the table names the parser that read its answers
    naive, vdd = table.set_index("method").loc["naive"], table.set_index("method").loc["vdd-none"]
    assert (naive["accuracy"], naive["unclear"], naive["questions"]) == (0.5, 0.25, 4)
    assert (vdd["accuracy"], vdd["f1"], vdd["unclear"]) == (1.0, 1.0, 0.0)
    assert contrastive_findings(table) == [
        "POPE, default decoding (greedy): best f1 with vdd-none (100.0 %; naive 66.7 %, +33.3)."
    ]


def test_report_blocks_show_chair_captions_and_classification(tmp_path):
    """The report's generation blocks from files as the rules write them: table, figure, findings, and the captions
    side by side with the hallucinated star marked."""
    import json

    from lvlm_debias.plots.figures import save_figure
    from lvlm_debias.plots.generation import chair_figure, contrastive_figure
    from lvlm_debias.report.blocks import model_blocks

    for i in range(2):
        _image(i).save(tmp_path / f"{i}.png")
    captions = _captions()
    chair = chair_table(captions, VOCAB)
    chair.to_csv(tmp_path / "chair.csv", index=False)
    save_figure(chair_figure(chair, "m"), tmp_path / "chair.png")
    samples = {"default": caption_samples(marked_captions(captions, VOCAB, "default", 2), tmp_path)}
    (tmp_path / "chair_samples.json").write_text(json.dumps(samples))
    answers = pd.DataFrame(
        {
            "setting": "default", "config": "greedy", "method": ["naive", "naive", "vcd", "vcd"],
            "question_id": [0, 1, 0, 1], "image": ["0.png", "1.png"] * 2, "subset": "random",
            "label": ["yes", "no"] * 2, "answer": ["Yes", "Yes", "Yes", "No"],
            "prediction": ["yes", "yes", "yes", "no"], "pair": "", "parser": "vcd",
        }
    )  # fmt: skip
    contrastive = contrastive_table({"pope/random": answers})
    contrastive.to_csv(tmp_path / "contrastive.csv", index=False)
    save_figure(contrastive_figure(contrastive, "m"), tmp_path / "contrastive.png")
    outputs = {k: tmp_path / f"{k}.{ext}" for k, ext in [("chair", "csv"), ("contrastive", "csv")]}
    outputs |= {"chair_png": tmp_path / "chair.png", "chair_samples": tmp_path / "chair_samples.json"}
    outputs |= {"contrastive_png": tmp_path / "contrastive.png"}
    blocks = {b.title.split(":")[0]: b for b in model_blocks(outputs)}
    assert set(blocks) == {"Captions", "Classification answered by generation"}
    captions_block = blocks["Captions"]
    assert len(captions_block.figures) == 1 and captions_block.figures[0].startswith("data:image/png;base64,")
    assert '<mark class="hallucinated">star</mark>' in captions_block.tables[1][1]
    assert "lowest CHAIR_s with vdd-both" in captions_block.findings[0]
    assert "best f1 with vcd" in blocks["Classification answered by generation"].findings[0]
    heading, html = blocks["Classification answered by generation"].tables[0][:2]
    assert heading == "POPE per split, setting and method (answers read by the vcd parser)"
    assert "<th>parser</th>" in html
