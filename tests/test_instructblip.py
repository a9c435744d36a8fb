"""InstructBLIP behind the same interface as LLaVA: a tiny checkpoint saved to a folder and loaded as a downloaded
one is, scored under every probe, decoded with VDD / VCD, and read for attention."""

import json
from pathlib import Path

import pytest
import torch
from conftest import COLOURS, SHAPES, write_questions
from family_checks import alpha_zero_reproduces_greedy, library_entry_points_run, reference_branch_matches_full_forward
from hub_cache import REVISION, fill_hub_cache
from miniature import run_paper_config_in_miniature
from test_downloads import DOWNLOAD, _python
from test_probes import _image
from tiny_instructblip import QUERY_TOKENS, TEMPLATE, save_tiny_instructblip

from lvlm_debias.inputs.probes import image_token_id, probe_inputs
from lvlm_debias.models.architectures import processor_prompts, text_model, uses_query_tokens
from lvlm_debias.models.load import load_entry
from lvlm_debias.models.prompts import LLAVA_HF, build_prompt
from lvlm_debias.scoring.score import next_token_logits

ENTRY = {"prompt": TEMPLATE, "dtype": "float32", "device": "cpu"}
PROMPTS = [build_prompt(TEMPLATE, "Is there a red circle in the image?"), build_prompt(TEMPLATE, "Is there a star?")]
IMAGES = [_image(0), _image(1)]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return str(save_tiny_instructblip(tmp_path_factory.mktemp("instructblip"), SHAPES, COLOURS))


@pytest.fixture(scope="module")
def instructblip(folder):
    return load_entry(folder, ENTRY)


def test_loads_from_a_folder_with_the_image_tokens_before_the_text(instructblip):
    model, processor = instructblip
    assert uses_query_tokens(model) and type(model).__name__ == "InstructBlipForConditionalGeneration"
    image_id = image_token_id(processor)
    plain = processor.tokenizer(PROMPTS[0])["input_ids"]  # BOS, <image>, question...
    naive = probe_inputs(processor, PROMPTS[:1], "naive", IMAGES[:1])
    assert naive["input_ids"][0].tolist() == [image_id] * QUERY_TOKENS + [t for t in plain if t != image_id]
    assert naive["qformer_input_ids"].shape[0] == 1 and naive["pixel_values"].shape == (1, 3, 32, 32)
    none = probe_inputs(processor, PROMPTS[:1], "none")
    assert none["input_ids"][0].tolist() == [t for t in plain if t != image_id]
    unk = probe_inputs(processor, PROMPTS[:1], "unk")
    assert unk["input_ids"][0].tolist() == [processor.tokenizer.unk_token_id if t == image_id else t for t in plain]


def test_the_image_placeholder_must_open_the_prompt(instructblip):
    _, processor = instructblip
    elsewhere = build_prompt(LLAVA_HF, "Is there a star?")  # "USER: <image>\n..."
    with pytest.raises(ValueError, match="must start with '<image>'"):
        probe_inputs(processor, [elsewhere], "naive", IMAGES[:1])
    assert processor_prompts(processor, PROMPTS) == [p.removeprefix("<image>") for p in PROMPTS]


def test_text_probes_read_the_language_model_and_image_probes_the_whole_model(instructblip):
    model, processor = instructblip
    none = probe_inputs(processor, PROMPTS[:1], "none")
    alone = text_model(model)(input_ids=none["input_ids"]).logits[:, -1]
    torch.testing.assert_close(next_token_logits(model, none), alone, atol=1e-5, rtol=1e-5)
    naive = probe_inputs(processor, PROMPTS[:1], "naive", IMAGES[:1])
    with torch.no_grad():
        whole = model(**naive).logits[:, -1]
    torch.testing.assert_close(next_token_logits(model, naive), whole, atol=1e-5, rtol=1e-5)
    other = probe_inputs(processor, PROMPTS[:1], "naive", [_image(7)])
    assert not torch.allclose(next_token_logits(model, other), whole)  # the image reaches the answer


@pytest.mark.parametrize("probe", ["naive", "none", "unk", "noise"])
def test_padding_inside_the_batch_does_not_change_the_answer(instructblip, probe):
    """The processor pads between the image tokens and the text; position ids follow the attention mask."""
    model, processor = instructblip
    images = IMAGES if probe in ("naive", "noise") else None
    both = next_token_logits(model, probe_inputs(processor, PROMPTS, probe, images, [3, 4]))
    for i in range(2):
        one = probe_inputs(processor, PROMPTS[i : i + 1], probe, images and images[i : i + 1], [[3, 4][i]])
        torch.testing.assert_close(both[i], next_token_logits(model, one)[0], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("reference", ["none", "vcd-noise"])
def test_reference_branch_cache_matches_full_forward(instructblip, reference):
    reference_branch_matches_full_forward(*instructblip, PROMPTS, IMAGES, reference)


@pytest.mark.parametrize("method", ["vdd-both", "vcd"])
def test_alpha_zero_reproduces_plain_greedy_decoding(instructblip, method):
    alpha_zero_reproduces_greedy(*instructblip, PROMPTS, IMAGES, method)


def test_the_rules_library_entry_points_run_on_it(folder, tmp_path):
    """What the scoring, generation (OPERA included) and attention jobs call, with the folder and a config entry."""
    library_entry_points_run(folder, ENTRY, tmp_path, write_questions(tmp_path, 4, labels=("yes", "no")))


def test_downloads_with_its_qformer_tokenizer_and_loads_by_repo_id(tmp_path, folder):
    """The checkpoint as a hub repo in a local cache: the download keeps the Q-Former tokenizer's subfolder (the
    processor cannot load without it) and the model loads by repo id, offline."""
    files = {str(p.relative_to(folder)): p.read_bytes() for p in Path(folder).rglob("*") if p.is_file()}
    assert any(name.startswith("qformer_tokenizer/") for name in files)
    fill_hub_cache(tmp_path / "hf/hub", "model", "org/tiny-instructblip", files)
    manifest = tmp_path / "manifest.json"
    run = _python(tmp_path, DOWNLOAD.format(repo="org/tiny-instructblip", manifest=str(manifest), revision=REVISION,
                                            fetch=False))  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert {f["path"] for f in json.loads(manifest.read_text())["files"]} == set(files)
    load = _python(tmp_path, f"""
        from lvlm_debias.models.load import load_model
        model, processor = load_model("org/tiny-instructblip", revision={REVISION!r}, device="cpu")
        print(type(model).__name__, type(processor.qformer_tokenizer).__name__)
    """)  # fmt: skip
    assert load.returncode == 0 and "InstructBlipForConditionalGeneration" in load.stdout, load.stderr[-2000:]


@pytest.mark.slow
def test_paper_config_in_miniature_runs_with_an_instructblip_from_the_hub(tmp_path, folder):
    """The paper config in miniature (``tests/miniature.py``) through the InstructBLIP path, to the report."""
    run_paper_config_in_miniature(tmp_path, folder, "blip", TEMPLATE, "float16", ["naive", "none", "noise"])
