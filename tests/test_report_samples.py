"""The report's per-sample browser, escaping of text in the report, and the report in a real browser."""

import numpy as np
import pandas as pd
import pytest
from conftest import schema_defaults
from PIL import Image

from lvlm_debias.report.browser import find_chromium, inspect_report, screenshot
from lvlm_debias.report.render import ModelSection, render_report
from lvlm_debias.report.samples import pick_samples, sample_cards

EVIL = '<script>alert("owned")</script><b>bold?</b>'


def test_pick_samples_takes_half_wrong_half_right_in_question_order():
    naive = pd.DataFrame(
        {"question_id": [5, 6, 7, 8, 9], "label": ["yes"] * 5, "prediction": ["no", "yes", "no", "yes", "yes"]}
    )
    assert pick_samples(naive, 4) == [5, 6, 7, 8]
    assert pick_samples(naive, 10) == [5, 6, 7, 8, 9]
    assert pick_samples(naive.iloc[[1, 3, 4]], 2) == [6, 8]  # no mistakes: all from the right ones
    assert pick_samples(naive, 0) == []
    with pytest.raises(ValueError, match="must be >= 0"):
        pick_samples(naive, -1)


def _sample_run(tmp_path, text=EVIL):
    Image.fromarray(np.full((8, 8, 3), 200, dtype=np.uint8)).save(tmp_path / "a.png")
    questions = [
        {"question_id": 1, "image": "a.png", "text": text, "label": "yes"},
        {"question_id": 2, "image": "a.png", "text": "Is there a star?", "label": "no"},
    ]
    probs = pd.DataFrame(
        {
            "question_id": [1, 2, 1, 2],
            "probe": ["naive", "naive", "none", "none"],
            "label": ["yes", "no", "yes", "no"],
            "p_yes": [0.2, 0.3, 0.6, 0.9],
            "p_no": [0.6, 0.1, 0.2, 0.1],
        }
    )
    return questions, probs


def test_sample_cards_normalise_per_probe_and_name_a_missing_question(tmp_path):
    questions, probs = _sample_run(tmp_path)
    cards = sample_cards(probs, questions, tmp_path, ["yes", "no"], n=2)
    assert [c["question_id"] for c in cards] == ["1", "2"]
    first = cards[0]
    assert first["text"] == EVIL and first["answer"] == "no" and first["label"] == "yes"
    assert first["probes"] == [
        {"probe": "naive", "probs": ["0.250", "0.750"], "prediction": "no"},
        {"probe": "none", "probs": ["0.750", "0.250"], "prediction": "yes"},
    ]
    assert first["image"].startswith("data:image/png;base64,")
    with pytest.raises(ValueError, match="question 2 of the label probabilities is not in the question file"):
        sample_cards(probs, questions[:1], tmp_path, ["yes", "no"], n=2)
    with pytest.raises(ValueError, match="cannot read the sample image"):
        sample_cards(probs, [dict(q, image="gone.png") for q in questions], tmp_path, ["yes", "no"], n=2)


def _report(tmp_path):
    questions, probs = _sample_run(tmp_path)
    cards = sample_cards(probs, questions, tmp_path, ["yes", "no"], n=2)
    out = tmp_path / "report.html"
    render_report(
        out, {"seed": 0, "report": schema_defaults("report")}, [ModelSection("m", {}, None, None, cards)], {"seed": "0"}
    )
    return out


def test_model_text_is_escaped_in_the_report(tmp_path):
    """Checked to fail without the protection: with the template's autoescape off, the raw <script> tag appears."""
    html = _report(tmp_path).read_text()
    assert EVIL not in html
    assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;&lt;b&gt;bold?&lt;/b&gt;" in html


@pytest.fixture(scope="module")
def chromium():
    path = find_chromium()
    if path is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)")
    return path


def test_report_in_a_real_browser(chromium, tmp_path):
    """What a reader sees: no errors, no alert from the question text, the text shown literally, images loaded, the
    browser showing one sample at a time, and a table sorted by clicking its header. Checked to fail: an injected
    `throw` in the template's script shows up in ``errors``."""
    seen = inspect_report(_report(tmp_path), chromium)
    assert seen["errors"] == [] and seen["alerts"] == []
    assert EVIL in seen["text"]
    assert seen["images"] and all(i["width"] > 0 for i in seen["images"])
    assert seen["samples"] == 2 and seen["samples_shown"] == 1
    assert {"m", "m-samples", "provenance", "config"} <= set(seen["ids"])
    shot = screenshot(tmp_path / "report.html", tmp_path / "shot.png", chromium, (800, 600))
    with Image.open(shot) as image:
        assert image.size == (800, 600)


def _verdict_report(tmp_path):
    """A report with the paper's claims checked on per-question outputs (tests/test_report_paper.py) and the POPE
    calibration and confidence-bin blocks (35 bin rows: collapsed), written to ``tmp_path/results``."""
    from conftest import ROOT
    from test_report_paper import _outputs

    from lvlm_debias.plots.bins import confidence_bins_figure
    from lvlm_debias.plots.calibration import calibration_figure
    from lvlm_debias.plots.figures import save_figure
    from lvlm_debias.report.paper import load_paper_numbers

    tables = tmp_path / "tables"
    tables.mkdir()
    outputs = {k: v for k, v in _outputs(tables).items() if k not in ("decoding", "contrastive", "prior_probing")}
    for key, figure in (
        ("pope/calibration", calibration_figure(pd.read_csv(outputs["pope/calibration"]))),
        ("pope/confidence_bins", confidence_bins_figure(pd.read_csv(outputs["pope/confidence_bins"]))),
    ):
        outputs[f"{key}_png"] = tables / f"{key.replace('/', '_')}.png"
        save_figure(figure, outputs[f"{key}_png"])
    claims, numbers, regime = load_paper_numbers(ROOT / "config/paper_numbers.yaml")
    out = tmp_path / "results/report.html"
    config = {"seed": 3, "report": {"bootstrap_resamples": 500}}
    render_report(out, config, [ModelSection("m", outputs)], {"seed": "3"}, None, claims, numbers, regime)
    return out, outputs


def test_report_opens_with_the_summary_and_collapses_long_tables(chromium, tmp_path):
    """The first section is the summary: one row per claim this run checks, with its estimate, interval and verdict,
    within the first screen. The 30-row bin table is collapsed: its table is not shown until a click on its
    summary line opens it, and its CSV link leads to the file from the report's folder. Figures come before tables
    in every block. Checked to fail without the feature: before the summary and <details>, ``summary`` and
    ``details`` were None."""
    report, outputs = _verdict_report(tmp_path)
    seen = inspect_report(report, chromium)
    assert seen["errors"] == [] and seen["first_section"] == "summary"
    summary = seen["summary"]
    assert summary["rows"] == 6 and summary["bottom"] < 900
    assert summary["verdicts"] == ["yes", "yes", "yes", "yes", "inconclusive", "inconclusive"]
    details = seen["details"]
    assert details["count"] >= 1 and "Per bin and method: 30 rows" in details["caption"]
    assert details["shown_closed"] is False and details["shown_open"] is True and details["open"] is True
    assert details["height_open"] > 100
    assert (report.parent / details["csv"]).resolve() == outputs["pope/confidence_bins"].resolve()
    html = report.read_text()
    assert "seed 3" in html and "500 resamples" in html
    for block in html.split("<h3 id=")[1:]:
        if "<img" in block and "<table" in block:
            assert block.index("<img") < block.index("<table"), block[:80]
    shot = screenshot(report, tmp_path / "summary.png", chromium, (1280, 900))
    with Image.open(shot) as image:
        assert image.size == (1280, 900)
