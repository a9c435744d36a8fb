"""Checkpoints laid out as the hub holds them (``hub_layouts``): llava-hf at the paper config's revision without a
processor config, one from before transformers 4.47, llava-hf today, InstructBLIP at PR 14 naming the video processor
and before PR 14. Each is put into a local hub cache, downloaded and loaded by repo id offline, as the workflow's rules
do, and scored under every probe and decoded with every VDD / VCD method: the image-token counts are the model's, and
the results equal those of the ``save_pretrained`` folder of the same weights.

Checked to fail on the code before the fix (``AutoProcessor.from_pretrained`` in ``load_model``), 10 of the 12
tests that load a checkpoint: llava-hf at 95f2cf3 failed in the first forward with ``TypeError: unsupported operand
type(s) for //: 'int' and 'NoneType'``, before 4.47 with ``ValueError: Image features and image tokens do not
match``; InstructBLIP at PR 14 with ``ValueError: ... requires `torchvision` ...`` (the video processor), before
PR 14 with ``InstructBlipProcessor has no num_query_tokens`` (naming no revision to pin); the forced wrong counts
loaded the weights, and LLaVA then failed in its forward while InstructBLIP went on scoring with 3 image tokens for 4
query features. llava-hf at ``main`` loaded and scored the same before the fix too (the layout the fix must not
change).
"""

import json
from pathlib import Path

import pytest
import torch
from conftest import COLOURS, SHAPES, write_questions
from hub_cache import REVISION, fill_hub_cache
from hub_layouts import (
    expected_image_tokens,
    instructblip_before_pr14,
    instructblip_pr14,
    layout_results,
    llava_hf_at_95f2cf3,
    llava_hf_before_4_47,
    llava_hf_main,
    saved_files,
    with_processor_values,
)
from test_downloads import _python
from tiny_instructblip import QUERY_TOKENS, save_tiny_instructblip
from tiny_instructblip import TEMPLATE as BLIP_TEMPLATE
from transformers import CLIPVisionConfig, InstructBlipConfig, LlavaConfig

from lvlm_debias.embedded.corpus import vocabulary_texts
from lvlm_debias.embedded.tiny_llava import TinyLlavaSpec, build_model, build_processor
from lvlm_debias.embedded.tokenizer import build_tokenizer
from lvlm_debias.models import load, processors
from lvlm_debias.models.load import load_model
from lvlm_debias.models.processors import KNOWN_GOOD_REVISIONS, CheckpointLayoutError
from lvlm_debias.models.prompts import LLAVA_HF, without_image

LLAVA_7B, BLIP_7B = "llava-hf/llava-1.5-7b-hf", "Salesforce/instructblip-vicuna-7b"
OLD, NOW = "1" * 40, "2" * 40  # two more revisions of the real repo ids in the cache
#: layout name -> (repo id, revision, template)
REPOS = {
    "llava-saved": ("org/tiny-llava", REVISION, LLAVA_HF),
    "llava-95f2cf3": (LLAVA_7B, KNOWN_GOOD_REVISIONS[LLAVA_7B], LLAVA_HF),
    "llava-before-4.47": (LLAVA_7B, OLD, LLAVA_HF),
    "llava-main": (LLAVA_7B, NOW, LLAVA_HF),
    "llava-wrong-count": ("org/tiny-llava-wrong", REVISION, LLAVA_HF),
    "blip-saved": ("org/tiny-instructblip", REVISION, BLIP_TEMPLATE),
    "blip-pr14": (BLIP_7B, KNOWN_GOOD_REVISIONS[BLIP_7B], BLIP_TEMPLATE),
    "blip-before-pr14": (BLIP_7B, OLD, BLIP_TEMPLATE),
    "blip-wrong-count": ("org/tiny-instructblip-wrong", REVISION, BLIP_TEMPLATE),
}
LAYOUTS = {
    "llava-95f2cf3": ("llava", llava_hf_at_95f2cf3),
    "llava-before-4.47": ("llava", llava_hf_before_4_47),
    "llava-main": ("llava", llava_hf_main),
    "llava-wrong-count": ("llava", lambda files: with_processor_values(files, num_additional_image_tokens=0)),
    "blip-pr14": ("blip", instructblip_pr14),
    "blip-before-pr14": ("blip", instructblip_before_pr14),
    "blip-wrong-count": ("blip", lambda files: with_processor_values(files, num_query_tokens=QUERY_TOKENS - 1)),
}

#: loads every layout by repo id offline (after the download rule's download_model) and writes what it computed
SCRIPT = """
import json, logging, sys
sys.path.insert(0, {tests!r})
from hub_layouts import layout_results
from lvlm_debias.data.jsonl import read_jsonl
from lvlm_debias.models.download import download_model
from lvlm_debias.models.load import load_model

class Lines(logging.Handler):
    def emit(self, record):
        self.lines.append(record.getMessage())

lines = Lines()
logging.getLogger("lvlm_debias").addHandler(lines)
logging.getLogger("lvlm_debias").setLevel(logging.INFO)
questions = read_jsonl({questions!r})
out = {{}}
for name, (repo, revision, template) in {repos!r}.items():
    lines.lines = []
    download_model(repo, {root!r} + "/" + name + ".manifest.json", revision=revision, fetch=False)
    try:
        model, processor = load_model(repo, revision=revision, device="cpu")
        out[name] = layout_results(model, processor, questions, {root!r}, template)
    except Exception as err:
        out[name] = {{"error": type(err).__name__ + ": " + str(err)}}
    out[name]["log"] = lines.lines
json.dump(out, open({root!r} + "/results.json", "w"))
"""


def _tiny_llava_default(folder: Path) -> Path:
    """The tests' tiny LLaVA (conftest's tokenizer and sizes) with LLaVA-1.5's "default" feature strategy (CLS
    dropped), saved with ``save_pretrained``."""
    spec = TinyLlavaSpec(image_size=32, patch_size=8, vision_hidden=32, text_hidden=32, max_positions=64,
                         vision_feature_select_strategy="default")  # fmt: skip
    tokenizer = build_tokenizer(vocabulary_texts(SHAPES, COLOURS, [LLAVA_HF, without_image(LLAVA_HF)]))
    processor = build_processor(spec, tokenizer)
    torch.manual_seed(0)
    model = build_model(spec, tokenizer)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The ``save_pretrained`` files of the tiny LLaVA and the tiny InstructBLIP."""
    root = tmp_path_factory.mktemp("saved")
    return {
        "llava": saved_files(_tiny_llava_default(root / "llava")),
        "blip": saved_files(save_tiny_instructblip(root / "blip", SHAPES, COLOURS)),
    }


@pytest.fixture(scope="module")
def results(tmp_path_factory, saved):
    """What ``SCRIPT`` computed for every layout, loaded by repo id from a local hub cache with HF_HUB_OFFLINE=1."""
    tmp = tmp_path_factory.mktemp("hub")
    questions = write_questions(tmp, 3, labels=("yes", "no"))
    (tmp / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    for name, (repo, revision, _) in REPOS.items():
        family, layout = LAYOUTS.get(name, (name.split("-")[0], dict))
        fill_hub_cache(tmp / "hf/hub", "model", repo, layout(saved[family]), revision=revision)
    code = SCRIPT.format(tests=str(Path(__file__).parent), questions=str(tmp / "questions.jsonl"), repos=REPOS,
                         root=str(tmp))  # fmt: skip
    run = _python(tmp, code)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads((tmp / "results.json").read_text())


def _config(files) -> dict:
    return json.loads(files["config.json"])


@pytest.mark.parametrize(
    ("layout", "baseline"),
    [
        ("llava-95f2cf3", "llava-saved"),
        ("llava-before-4.47", "llava-saved"),
        ("llava-main", "llava-saved"),
        ("blip-pr14", "blip-saved"),
    ],
)
def test_a_hub_layout_loads_and_scores_as_the_saved_folder(results, saved, layout, baseline):
    """Every probe's label probabilities, every VDD / VCD reference branch's logits and every method's greedy text
    equal the ``save_pretrained`` folder's; the prompt holds the image tokens the model's config asks for, and the
    pixels are one 4-D image tensor (never the video processor's 5-D one)."""
    got, want = results[layout], results[baseline]
    assert "error" not in got, got["error"]
    assert "error" not in want, want["error"]
    family = baseline.split("-")[0]
    expected = expected_image_tokens(_config(saved[family]))
    assert got["image_tokens"] == want["image_tokens"] == [expected] * 3
    assert got["processor"] == {"llava": "LlavaProcessor", "blip": "InstructBlipProcessor"}[family]
    assert got["pixel_dims"] == 4
    assert got["rows"] == want["rows"] and min(want["scores"]) > 0
    assert got["scores"] == pytest.approx(want["scores"], rel=1e-6, abs=1e-9)
    for ref in want["references"]:
        torch.testing.assert_close(torch.tensor(got["references"][ref]), torch.tensor(want["references"][ref]))
    assert got["texts"] == want["texts"]


def test_what_the_processor_files_lack_is_filled_from_the_model_config_and_logged(results, saved):
    config = _config(saved["llava"])
    filled = " ".join(results["llava-95f2cf3"]["log"])
    assert LLAVA_7B in filled
    for key, value in [("patch_size", config["vision_config"]["patch_size"]), ("num_additional_image_tokens", 1),
                       ("vision_feature_select_strategy", "'default'")]:  # fmt: skip
        assert f"'{key}': {value}" in filled
    before = " ".join(results["llava-before-4.47"]["log"])
    assert "'num_additional_image_tokens': 1" in before and "patch_size" not in before
    assert not any("taken from the model's config.json" in line for line in results["llava-main"]["log"])
    pr14 = " ".join(results["blip-pr14"]["log"])
    assert "InstructBlipVideoProcessor" in pr14 and "building InstructBlipProcessor" in pr14


def test_instructblip_before_pr14_fails_naming_the_checkpoint_and_the_revision_to_pin(results):
    error = results["blip-before-pr14"]["error"]
    assert error.startswith("CheckpointLayoutError") and BLIP_7B in error and OLD in error
    assert "image_token_index" in error and f"pin revision {KNOWN_GOOD_REVISIONS[BLIP_7B]}" in error


@pytest.mark.parametrize("name", ["llava-wrong-count", "blip-wrong-count"])
def test_a_wrong_image_token_count_is_refused_by_repo_id(results, saved, name):
    family = name.split("-")[0]
    expected = expected_image_tokens(_config(saved[family]))
    error = results[name]["error"]
    repo, revision, _ = REPOS[name]
    assert error.startswith("CheckpointLayoutError") and repo in error and revision in error
    assert f"puts {expected - 1} image tokens" in error and f"fills {expected} with image features" in error
    assert "processor_config.json" in error


def _folder(tmp_path, files) -> str:
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    return str(tmp_path)


@pytest.mark.parametrize(
    ("family", "values", "off"),
    [("llava", {"num_additional_image_tokens": 0}, -1), ("llava", {"patch_size": 4}, None),
     ("blip", {"num_query_tokens": QUERY_TOKENS + 2}, 2)],
)  # fmt: skip
def test_a_wrong_image_token_count_fails_before_the_weights_load(tmp_path, saved, monkeypatch, family, values, off):
    """A processor forced to another count than the vision tower's fails in ``load_model`` before any weight is read
    (so before any forward), naming the checkpoint and both counts."""
    folder = _folder(tmp_path, with_processor_values(saved[family], **values))
    expected = expected_image_tokens(_config(saved[family]))
    size = _config(saved[family])["vision_config"]["image_size"]
    found = expected + off if off is not None else (size // 4) ** 2  # patch 4: every 4 px patch, CLS dropped
    monkeypatch.setattr(load.AutoModelForImageTextToText, "from_pretrained", _never)
    with pytest.raises(CheckpointLayoutError) as err:
        load_model(folder, device="cpu")
    message = str(err.value)
    assert folder in message and f"puts {found} image tokens" in message and f"fills {expected} with" in message


def _never(*args, **kwargs):
    raise AssertionError("the weights were loaded before the image-token check")


def test_layout_results_runs_in_process(tmp_path, saved):
    """``layout_results`` (what ``SCRIPT`` runs) on the saved LLaVA folder in this process, so that a failure shows
    its traceback here; the saved layout needs nothing filled in."""
    questions = write_questions(tmp_path, 2, labels=("yes", "no"))
    model, processor = load_model(_folder(tmp_path / "llava", saved["llava"]), device="cpu")
    out = layout_results(model, processor, questions, tmp_path, LLAVA_HF)
    assert out["image_tokens"] == [expected_image_tokens(_config(saved["llava"]))] * 2
    assert len(out["rows"]) == 2 * 6 and processor.tokenizer.padding_side == "left"


def test_the_expected_count_of_the_paper_models():
    """576 = (336 / 14)² + 1 − 1 for LLaVA-1.5 (CLIP ViT-L/14-336, "default"), 577 with "full"; 32 for InstructBLIP."""
    library_count = processors.expected_image_tokens
    vision = CLIPVisionConfig(image_size=336, patch_size=14)
    assert library_count(LlavaConfig(vision_config=vision, vision_feature_select_strategy="default")) == 576
    assert library_count(LlavaConfig(vision_config=vision, vision_feature_select_strategy="full")) == 577
    assert library_count(InstructBlipConfig(num_query_tokens=32)) == 32
