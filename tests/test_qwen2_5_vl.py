"""Qwen2.5-VL behind the same interface as LLaVA: a tiny checkpoint saved in the hub repo's layout and loaded as a
downloaded one is, scored under every probe, decoded with VDD / VCD, and read for attention (tests/test_instructblip.py
test for test)."""

import json
import logging
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import COLOURS, SHAPES, write_questions
from family_checks import alpha_zero_reproduces_greedy, library_entry_points_run
from hub_cache import REVISION, fill_hub_cache
from miniature import run_paper_config_in_miniature
from test_downloads import DOWNLOAD, _python
from test_probes import _image
from tiny_qwen2_5_vl import IMAGE_TOKENS, PIXELS, TEMPLATE, save_tiny_qwen2_5_vl

from lvlm_debias.decoding.processors import ReferenceBranch, reference_inputs
from lvlm_debias.inputs.probes import image_token_id, left_pad, probe_inputs
from lvlm_debias.models.families import family_of
from lvlm_debias.models.families.qwen2_5_vl import FIXED_PIXELS, UNK_TOKEN, Qwen25VL
from lvlm_debias.models.load import load_entry
from lvlm_debias.models.prompts import build_prompt
from lvlm_debias.scoring.cache import (
    pair_questions,
    prefix_applies,
    score_pairs,
)
from lvlm_debias.scoring.first_token import FirstTokenSpec
from lvlm_debias.scoring.pairs import distinct_pairs, image_batches
from lvlm_debias.scoring.score import YES_NO, next_token_logits, score_questions

ENTRY = {"prompt": TEMPLATE, "dtype": "float32", "device": "cpu"}
PROMPTS = [build_prompt(TEMPLATE, "Is there a red circle in the image?"), build_prompt(TEMPLATE, "Is there a star?")]
IMAGES = [_image(0), _image(1, size=48)]  # two sizes, one pixel budget: the same grid


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return str(save_tiny_qwen2_5_vl(tmp_path_factory.mktemp("qwen2_5_vl"), SHAPES, COLOURS))


@pytest.fixture(scope="module")
def qwen(folder):
    return load_entry(folder, ENTRY)


def _ids(processor, *tokens):
    return [processor.tokenizer.convert_tokens_to_ids(t) for t in tokens]


def test_loads_from_a_folder_with_the_vision_span_expanded_by_the_grid(qwen):
    model, processor = qwen
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration" and family_of(model) == family_of(processor)
    assert processor.tokenizer.unk_token_id is None  # as Qwen's: Unk must be said by the family
    start, end, image_id = _ids(processor, "<|vision_start|>", "<|vision_end|>", "<|image_pad|>")
    assert image_token_id(processor) == image_id
    plain = processor.tokenizer(PROMPTS[0].replace("<image>", "<|image_pad|>"))["input_ids"]  # no BOS
    naive = probe_inputs(processor, PROMPTS[:1], "naive", IMAGES[:1])
    at = plain.index(image_id)
    assert naive["input_ids"][0].tolist() == plain[:at] + [start] + [image_id] * IMAGE_TOKENS + [end] + plain[at + 1 :]
    assert naive["image_grid_thw"].tolist() == [[1, 8, 8]] and naive["pixel_values"].shape == (64, 3 * 2 * 4 * 4)
    both = probe_inputs(processor, PROMPTS, "naive", IMAGES)  # a 48 px image gets the 32 px one's grid
    assert both["image_grid_thw"].tolist() == [[1, 8, 8]] * 2 and (both["input_ids"] == image_id).sum() == 32


def test_none_drops_the_vision_span_and_unk_feeds_one_vision_pad(qwen):
    _, processor = qwen
    start, end, image_id, pad = _ids(processor, "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", UNK_TOKEN)
    naive = probe_inputs(processor, PROMPTS[:1], "naive", IMAGES[:1])["input_ids"][0].tolist()
    span = [start] + [image_id] * IMAGE_TOKENS + [end]
    at = naive.index(start)
    none = probe_inputs(processor, PROMPTS[:1], "none")["input_ids"][0].tolist()
    assert none == naive[:at] + naive[at + len(span) :] and not {start, end, image_id} & set(none)
    unk = probe_inputs(processor, PROMPTS[:1], "unk")["input_ids"][0].tolist()
    assert unk == naive[:at] + [pad] + naive[at + len(span) :]
    assert Qwen25VL().unk_token_id(processor) == pad != processor.tokenizer.pad_token_id


def test_a_prompt_with_its_own_vision_tokens_is_refused(qwen):
    _, processor = qwen
    doubled = PROMPTS[0].replace("<image>", "<|vision_start|><image><|vision_end|>")
    with pytest.raises(ValueError, match="mark the image with '<image>' alone"):
        probe_inputs(processor, [doubled], "naive", IMAGES[:1])


def test_the_pixel_budget_is_pinned_unless_the_repo_fixes_one(qwen, caplog):
    _, processor = qwen
    family = Qwen25VL()
    family.prepare_processor(processor)  # the tiny repo fixes min_pixels == max_pixels: kept
    assert processor.image_processor.size["longest_edge"] == PIXELS and family.blank_image(processor).size == (32, 32)
    original = dict(processor.image_processor.size)
    try:
        processor.image_processor.size = {"shortest_edge": 3136, "longest_edge": 12845056}  # the hub repo's range
        with caplog.at_level(logging.INFO):
            family.prepare_processor(processor)
        size = processor.image_processor.size
        assert size["shortest_edge"] == size["longest_edge"] == FIXED_PIXELS and "pinned" in caplog.text
        assert family.blank_image(processor).size == (448, 448)
        grid = probe_inputs(processor, PROMPTS[:1], "zero")["image_grid_thw"]
        assert grid.tolist() == [[1, 448 // 4, 448 // 4]]  # the tiny's 4 px patches: (448 / 4)² / 4 image tokens
    finally:
        processor.image_processor.size = original


def test_map_images_splits_the_patch_tensor_by_the_grid(qwen):
    _, processor = qwen
    inputs = probe_inputs(processor, PROMPTS, "naive", IMAGES)
    pixels = inputs["pixel_values"]
    marked = Qwen25VL().map_images(pixels, lambda i, x: torch.full_like(x, float(i)), inputs)
    assert marked[:64].eq(0).all() and marked[64:].eq(1).all() and marked.shape == pixels.shape
    noised = probe_inputs(processor, PROMPTS, "noise", IMAGES, [3, 4])["pixel_values"]
    alone = probe_inputs(processor, PROMPTS[1:], "noise", IMAGES[1:], [4])["pixel_values"]
    torch.testing.assert_close(noised[64:], alone)  # each image's noise is its own seed's, wherever it sits
    with pytest.raises(ValueError, match="one noise seed per image"):
        probe_inputs(processor, PROMPTS, "noise", IMAGES, [3])


def test_text_probes_read_the_language_model_and_image_probes_the_whole_model(qwen):
    model, processor = qwen
    naive = probe_inputs(processor, PROMPTS[:1], "naive", IMAGES[:1])
    with torch.no_grad():
        whole = model(**naive).logits[:, -1]  # the model's own M-RoPE positions, one unpadded row
    torch.testing.assert_close(next_token_logits(model, naive), whole, atol=1e-5, rtol=1e-5)
    other = probe_inputs(processor, PROMPTS[:1], "naive", [_image(7)])
    assert not torch.allclose(next_token_logits(model, other), whole, atol=1e-3)  # the image reaches the answer
    none = probe_inputs(processor, PROMPTS[:1], "none")
    with torch.no_grad():
        alone = model(**none).logits[:, -1]
    torch.testing.assert_close(next_token_logits(model, none), alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("probe", ["naive", "none", "unk", "noise", "zero"])
def test_padding_inside_the_batch_does_not_change_the_answer(qwen, probe):
    """Left padding: the explicit M-RoPE positions follow the attention mask."""
    model, processor = qwen
    images = IMAGES if probe in ("naive", "noise") else None
    inputs = probe_inputs(processor, PROMPTS, probe, images, [3, 4])
    assert inputs["attention_mask"][1].eq(0).any()  # the second row is padded
    both = next_token_logits(model, inputs)
    for i in range(2):
        one = probe_inputs(processor, PROMPTS[i : i + 1], probe, images and images[i : i + 1], [[3, 4][i]])
        single = next_token_logits(model, one)[0]
        torch.testing.assert_close(both[i], single, atol=1e-4, rtol=1e-4)
        assert both[i].argmax() == single.argmax()


def test_positions_are_three_dimensional_with_an_image_and_continue_after_it(qwen):
    model, processor = qwen
    family = family_of(model)
    inputs = probe_inputs(processor, PROMPTS, "naive", IMAGES)
    positions = family.positions(inputs["attention_mask"], inputs, model)
    assert positions.shape == (3, 2, inputs["input_ids"].shape[1])
    row = inputs["input_ids"][0].tolist()
    first = row.index(image_token_id(processor))
    image = positions[:, 0, first : first + IMAGE_TOKENS]
    assert image[0].unique().numel() == 1 and image[1].unique().numel() == image[2].unique().numel() == 4  # 4 x 4
    assert int(positions[0, 0, -1]) < len(row) - 1  # the text after the image does not count its 16 tokens
    text = family.positions(torch.tensor([[0, 1, 1]]))
    assert text.tolist() == [[0, 0, 1]]


@pytest.mark.parametrize("reference", ["none", "unk", "vcd-noise"])
def test_reference_branch_cache_matches_full_forward(qwen, reference):
    """Beside an image branch: the model's rope deltas are left by another batch's forward first."""
    model, processor = qwen
    inputs = reference_inputs(processor, PROMPTS, reference, IMAGES, [5, 6])
    branch = ReferenceBranch(model, dict(inputs))
    next_token_logits(model, probe_inputs(processor, PROMPTS[::-1], "naive", IMAGES[::-1]))  # other deltas
    torch.testing.assert_close(branch.next_logits(None), next_token_logits(model, inputs), atol=1e-5, rtol=1e-5)
    rows = [ids[m.bool()].tolist() for ids, m in zip(inputs["input_ids"], inputs["attention_mask"], strict=True)]
    for new in ([5, 9], [7, 3]):
        rows = [row + [t] for row, t in zip(rows, new, strict=True)]
        model.generate(**probe_inputs(processor, PROMPTS[:1], "naive", IMAGES[:1]), max_new_tokens=1)  # and again
        stepped = branch.next_logits(torch.tensor(new))
        full = {**inputs, **left_pad(rows, processor.tokenizer.pad_token_id)}
        if "image_grid_thw" in inputs:  # the generated tokens are text
            full["mm_token_type_ids"] = torch.where(full["input_ids"] == image_token_id(processor), 1, 0)
        torch.testing.assert_close(stepped, next_token_logits(model, full), atol=1e-4, rtol=1e-4)


def test_the_models_own_positions_would_fail_a_cached_step(qwen):
    """Why ``positions`` is never None for this family: a cached step with ``position_ids`` None (transformers 5.24)
    does not give the full forward's logits (here it fails outright)."""
    model, processor = qwen
    inputs = probe_inputs(processor, PROMPTS, "none")
    family = family_of(model)
    out = family.forward(model, inputs, position_ids=family.positions(inputs["attention_mask"]), use_cache=True)
    new = torch.tensor([[5], [9]])
    mask = torch.cat([inputs["attention_mask"], torch.ones_like(new)], dim=1)
    rows = [ids[m.bool()].tolist() + n for ids, m, n in zip(inputs["input_ids"], inputs["attention_mask"],
                                                              new.tolist(), strict=True)]  # fmt: skip
    full = next_token_logits(model, left_pad(rows, processor.tokenizer.pad_token_id))
    try:
        with torch.no_grad():
            step = family.forward(model, {"input_ids": new, "attention_mask": mask}, position_ids=None,
                                  use_cache=True, **{family.cache_arg(model): family.cache_of(out)})  # fmt: skip
    except RuntimeError:
        return
    assert not torch.allclose(step.logits[:, -1], full, atol=1e-4)


@pytest.mark.parametrize("method", ["vdd-both", "vcd"])
def test_alpha_zero_reproduces_plain_greedy_decoding(qwen, method):
    alpha_zero_reproduces_greedy(*qwen, PROMPTS, IMAGES, method)


def test_the_prefix_cache_does_not_apply_and_scoring_falls_back_to_whole_prompts(qwen, tmp_path, caplog):
    """Two and three questions per image, of uneven lengths: each runs its whole prompt, equal to scoring alone."""
    model, processor = qwen
    assert not prefix_applies(processor, TEMPLATE)
    for i in range(2):
        _image(i).save(tmp_path / f"{i}.png")
    asked = [(0, "Is there a circle in the image?"), (0, "Is there a red star?"), (1, "Is there a square?"),
             (1, "Is there a green triangle in the image?"), (1, "Is there a star?")]  # fmt: skip
    questions = [{"question_id": k, "image": f"{i}.png", "text": t, "label": "yes", "subset": "s"}
                 for k, (i, t) in enumerate(asked)]  # fmt: skip
    pairs = distinct_pairs({"random": questions})
    with caplog.at_level(logging.INFO, logger="lvlm_debias.scoring.cache"):
        scores, _, passes = score_pairs(
            model, processor, pairs.pairs, image_batches(pairs.pairs, 4), tmp_path,
            template=TEMPLATE, labels=YES_NO, probes=["naive", "noise"], top_k=20, seed=0, store=FirstTokenSpec(20),
        )  # fmt: skip
    assert "cannot be shared" in caplog.text and passes["naive"] == passes["naive rows"] == 5
    alone, _, _ = score_questions(
        model, processor, pair_questions(pairs.pairs), tmp_path, template=TEMPLATE, labels=YES_NO,
        probes=["naive", "noise"], top_k=20, batch_size=1, seed=0,
    )  # fmt: skip
    pd.testing.assert_frame_equal(scores.reset_index(drop=True), alone, atol=1e-5, check_exact=False)


def test_the_rules_library_entry_points_run_on_it(folder, tmp_path):
    """What the scoring, generation (OPERA included) and attention jobs call, with the folder and a config entry."""
    questions = write_questions(tmp_path, 4, labels=("yes", "no"))
    _, _, layers = library_entry_points_run(folder, ENTRY, tmp_path, questions)
    image_tokens = layers[(layers["probe"] == "naive") & (layers["group"] == "image")]["tokens"]
    assert image_tokens.eq(IMAGE_TOKENS).all()  # the image group is the <|image_pad|> tokens, markers not in it


def test_downloads_in_the_hub_layout_and_loads_by_repo_id(tmp_path, folder):
    """The checkpoint as a hub repo in a local cache (preprocessor_config.json with flat min/max pixels, a
    chat_template.json, no processor_config.json): downloaded, then loaded by repo id, offline."""
    files = {str(p.relative_to(folder)): p.read_bytes() for p in Path(folder).rglob("*") if p.is_file()}
    assert {"preprocessor_config.json", "chat_template.json"} <= set(files) and "processor_config.json" not in files
    assert json.loads(files["preprocessor_config.json"])["min_pixels"] == PIXELS
    fill_hub_cache(tmp_path / "hf/hub", "model", "org/tiny-qwen2.5-vl", files)
    manifest = tmp_path / "manifest.json"
    run = _python(tmp_path, DOWNLOAD.format(repo="org/tiny-qwen2.5-vl", manifest=str(manifest), revision=REVISION,
                                            fetch=False))  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert {f["path"] for f in json.loads(manifest.read_text())["files"]} == set(files)
    load = _python(tmp_path, f"""
        from lvlm_debias.models.load import load_model
        model, processor = load_model("org/tiny-qwen2.5-vl", revision={REVISION!r}, device="cpu")
        print(type(model).__name__, type(processor).__name__, processor.image_processor.size["longest_edge"])
    """)  # fmt: skip
    assert load.returncode == 0, load.stderr[-2000:]
    assert f"Qwen2_5_VLForConditionalGeneration Qwen25VLImageProcessor {PIXELS}" in load.stdout


@pytest.mark.slow
def test_paper_config_in_miniature_runs_with_a_qwen2_5_vl_from_the_hub(tmp_path, folder):
    """The paper config in miniature (``tests/miniature.py``) through the Qwen2.5-VL path, to the report."""
    run_paper_config_in_miniature(tmp_path, folder, "qwen2.5-vl", TEMPLATE, "bfloat16", ["naive", "none", "noise"])
