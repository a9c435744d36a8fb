"""SmolVLM / Idefics3 behind the same interface as LLaVA: a tiny checkpoint saved to a folder and loaded as a downloaded
one is, scored under every probe (the prefix cache too), decoded with VDD / VCD, and read for attention.

The tiny ``idefics3`` checkpoint (SmolVLM-256M-Instruct's model type) goes through every test; the ``smolvlm`` model
(SmolVLM2's) through the numerical ones, fed by the Idefics3 processor, since ``SmolVLMProcessor`` cannot be built
here (``num2words`` and ``torchvision`` are not installed; ``tiny_smolvlm``)."""

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import COLOURS, SHAPES, write_questions
from family_checks import alpha_zero_reproduces_greedy, library_entry_points_run, reference_branch_matches_full_forward
from hub_cache import REVISION, fill_hub_cache
from miniature import run_paper_config_in_miniature
from test_downloads import DOWNLOAD, _python
from test_probes import _image
from tiny_smolvlm import IMAGE_SIZE, IMAGE_TOKENS, TEMPLATE, save_tiny_smolvlm
from transformers import AutoModelForImageTextToText

from lvlm_debias.inputs.probes import PROBES, image_token_id, probe_inputs
from lvlm_debias.models.families import family_of
from lvlm_debias.models.load import load_entry
from lvlm_debias.models.prompts import build_prompt
from lvlm_debias.scoring.prefix import PromptIds, prefix_logits, shares_prefix
from lvlm_debias.scoring.score import next_token_logits

ENTRY = {"prompt": TEMPLATE, "dtype": "float32", "device": "cpu"}
QUESTIONS = ["Is there a red circle in the image?", "Is there a star?", "What colour is the square in the picture?"]
PROMPTS = [build_prompt(TEMPLATE, q) for q in QUESTIONS[:2]]
IMAGES = [_image(0), _image(1, size=40)]  # two sizes: the resize to one square fixes the token count


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return str(save_tiny_smolvlm(tmp_path_factory.mktemp("idefics3"), SHAPES, COLOURS, "idefics3"))


@pytest.fixture(scope="module")
def idefics3(folder):
    return load_entry(folder, ENTRY)


@pytest.fixture(scope="module", params=["idefics3", "smolvlm"])
def loaded(request, idefics3, tmp_path_factory):
    """(model, processor) of each model type; the processor is the Idefics3 one (the same tokenizer and prompt)."""
    if request.param == "idefics3":
        return idefics3
    smol = save_tiny_smolvlm(tmp_path_factory.mktemp("smolvlm"), SHAPES, COLOURS, "smolvlm")
    model = AutoModelForImageTextToText.from_pretrained(smol, dtype=torch.float32).eval()
    assert type(model).__name__ == "SmolVLMForConditionalGeneration" and family_of(model).model_type == "smolvlm"
    return model, idefics3[1]


def _wide_image():
    return _image(3, size=120).crop((0, 0, 120, 30))


def _ids(processor, *tokens):
    return processor.tokenizer.convert_tokens_to_ids(list(tokens))


def test_loads_from_a_folder_with_one_wrapped_image_of_fixed_size(idefics3):
    model, processor = idefics3
    assert type(model).__name__ == "Idefics3ForConditionalGeneration" and shares_prefix(processor)
    assert processor.image_processor.do_image_splitting is False  # the repo's file says true
    image_id = image_token_id(processor)
    fake, glob = _ids(processor, "<fake_token_around_image>", "<global-img>")
    plain = processor.tokenizer(PROMPTS[0])["input_ids"]  # BOS, User, :, <image>, question...
    at = plain.index(image_id)
    for image in (IMAGES[0], _image(2, size=200), _wide_image()):  # small, larger than the tile, not square
        naive = probe_inputs(processor, PROMPTS[:1], "naive", [image])
        wrapped = plain[:at] + [fake, glob] + [image_id] * IMAGE_TOKENS + [fake] + plain[at + 1 :]
        assert naive["input_ids"][0].tolist() == wrapped
        assert naive["pixel_values"].shape == (1, 1, 3, IMAGE_SIZE, IMAGE_SIZE)
        assert naive["pixel_attention_mask"].shape == (1, 1, IMAGE_SIZE, IMAGE_SIZE)
        assert bool(naive["pixel_attention_mask"].all())
    none = probe_inputs(processor, PROMPTS[:1], "none")
    assert none["input_ids"][0].tolist() == plain[:at] + plain[at + 1 :]  # no image token, no wrapper
    unk = probe_inputs(processor, PROMPTS[:1], "unk")
    assert unk["input_ids"][0].tolist() == plain[:at] + [processor.tokenizer.unk_token_id] + plain[at + 1 :]
    assert "pixel_values" not in none and "pixel_values" not in unk


def test_with_splitting_the_token_count_would_follow_the_image_size(idefics3):
    """What the family switches off: the repo's own setting tiles a large image (row/col tokens, more image tokens)."""
    _, processor = idefics3
    image_id = image_token_id(processor)
    processor.image_processor.do_image_splitting = True
    try:
        split = probe_inputs(processor, PROMPTS[:1], "naive", [_image(2, size=200)])
    finally:
        processor.image_processor.do_image_splitting = False
    assert int((split["input_ids"] == image_id).sum()) > IMAGE_TOKENS and split["pixel_values"].shape[1] > 1


def test_a_tile_size_other_than_the_vision_towers_is_refused(folder, tmp_path):
    copy = tmp_path / "bad"
    shutil.copytree(folder, copy)
    path = copy / "preprocessor_config.json"
    saved = json.loads(path.read_text())
    saved["max_image_size"] = {"longest_edge": 2 * IMAGE_SIZE}
    path.write_text(json.dumps(saved))
    with pytest.raises(ValueError, match=f"max_image_size.*image_size {IMAGE_SIZE}"):
        load_entry(str(copy), ENTRY)


@pytest.mark.parametrize("probe", list(PROBES))
def test_every_probe_scores_a_batch(loaded, probe):
    model, processor = loaded
    spec = PROBES[probe]
    images = IMAGES if spec.per_image else None
    seeds = [3, 4] if spec.seeded else None
    inputs = probe_inputs(processor, PROMPTS, probe, images, seeds)
    logits = next_token_logits(model, inputs)
    assert logits.shape == (2, len(processor.tokenizer)) and torch.isfinite(logits).all()
    if spec.feeds_pixels:
        assert inputs["pixel_values"].shape == (2, 1, 3, IMAGE_SIZE, IMAGE_SIZE)
        naive = next_token_logits(model, probe_inputs(processor, PROMPTS, "naive", IMAGES))
        assert probe == "naive" or not torch.allclose(logits, naive)  # the probe's pixels reach the answer


def test_zero_images_are_not_dropped_as_padding(loaded):
    """The model drops an all-zero image as padding; fed as is, a batch of Zero probes has fewer image features than
    image tokens. The family marks it real (one value at finfo.tiny), which changes no logit."""
    model, processor = loaded
    zero = probe_inputs(processor, PROMPTS, "zero")
    assert bool((zero["pixel_values"] == 0).all())
    with pytest.raises((ValueError, RuntimeError)), torch.no_grad():  # no / too few image features
        model(**zero)
    with torch.no_grad():  # the unmarked reference: the zero images' features put in by hand
        inner = model.model
        features = inner.connector(
            inner.vision_model(pixel_values=zero["pixel_values"].flatten(0, 1)).last_hidden_state
        )
        embeds = model.get_input_embeddings()(zero["input_ids"])
        embeds[zero["input_ids"] == image_token_id(processor)] = features.reshape(-1, embeds.shape[-1])
        mask = zero["attention_mask"]
        by_hand = model(inputs_embeds=embeds, attention_mask=mask, position_ids=family_of(model).positions(mask))
    torch.testing.assert_close(next_token_logits(model, zero), by_hand.logits[:, -1], atol=1e-6, rtol=0)


def test_text_probes_read_the_model_without_pixels_and_the_image_reaches_the_answer(loaded):
    model, processor = loaded
    none = probe_inputs(processor, PROMPTS[:1], "none")
    with torch.no_grad():
        alone = model(input_ids=none["input_ids"]).logits[:, -1]
    torch.testing.assert_close(next_token_logits(model, none), alone, atol=1e-5, rtol=1e-5)
    naive = next_token_logits(model, probe_inputs(processor, PROMPTS[:1], "naive", IMAGES[:1]))
    other = next_token_logits(model, probe_inputs(processor, PROMPTS[:1], "naive", [_image(7)]))
    assert not torch.allclose(naive, other, atol=1e-3)


@pytest.mark.parametrize("probe", ["naive", "none", "unk", "noise", "zero"])
def test_padding_inside_the_batch_does_not_change_the_answer(loaded, probe):
    model, processor = loaded
    prompts = [PROMPTS[0], build_prompt(TEMPLATE, QUESTIONS[2])]  # uneven lengths: the shorter row is padded
    images = IMAGES if PROBES[probe].per_image else None
    seeds = [3, 4] if PROBES[probe].seeded else None
    both = next_token_logits(model, probe_inputs(processor, prompts, probe, images, seeds))
    for i in range(2):
        one = probe_inputs(
            processor, prompts[i : i + 1], probe, images and images[i : i + 1], seeds and seeds[i : i + 1]
        )
        single = next_token_logits(model, one)[0]
        torch.testing.assert_close(both[i], single, atol=1e-4, rtol=0)
        assert both[i].argmax() == single.argmax()


@pytest.mark.parametrize("probe", ["naive", "noise", "zero", "one"])
def test_prefix_cached_logits_equal_full_forward_passes(loaded, probe):
    """Two images, three and two questions of uneven lengths: one prefix pass per image (up to its last <image>
    token; the closing wrapper opens the suffix) gives each question's full-forward logits."""
    model, processor = loaded
    prompts = [[build_prompt(TEMPLATE, q) for q in QUESTIONS], [build_prompt(TEMPLATE, q) for q in QUESTIONS[1:]]]
    seeds = [11, 12] if probe == "noise" else None
    ids = PromptIds(processor)
    cached = prefix_logits(model, processor, ids, IMAGES, prompts, probe, seeds)
    owners = [i for i, group in enumerate(prompts) for _ in group]
    flat = [p for group in prompts for p in group]
    full = next_token_logits(
        model,
        probe_inputs(processor, flat, probe, [IMAGES[i] for i in owners], seeds and [seeds[i] for i in owners]),
    )
    assert cached.shape == full.shape == (5, len(processor.tokenizer))
    torch.testing.assert_close(cached, full, atol=1e-4, rtol=0)
    assert torch.equal(cached.argmax(-1), full.argmax(-1))
    fake = _ids(processor, "<fake_token_around_image>")[0]
    assert ids(flat[0])[ids.prefix_length(flat[0])] == fake  # the closing wrapper is the suffix's first token


@pytest.mark.parametrize("reference", ["none", "unk", "vcd-noise"])
def test_reference_branch_cache_matches_full_forward(loaded, reference):
    reference_branch_matches_full_forward(*loaded, PROMPTS, IMAGES, reference)


@pytest.mark.parametrize("method", ["vdd-both", "vcd"])
def test_alpha_zero_reproduces_plain_greedy_decoding(loaded, method):
    alpha_zero_reproduces_greedy(*loaded, PROMPTS, IMAGES, method)


def test_the_rules_library_entry_points_run_on_it(folder, tmp_path):
    """What the scoring, generation (OPERA included) and attention jobs call, with the folder and a config entry."""
    questions = write_questions(tmp_path, 4, labels=("yes", "no"))
    _, _, layers = library_entry_points_run(
        folder, ENTRY, tmp_path, questions, attention_probes=("naive", "none", "zero")
    )
    image_share = layers[layers["group"] == "image"].groupby("probe")["share"].sum()
    assert image_share["naive"] > 0 and image_share.get("none", 0) == 0


def test_downloads_and_loads_by_repo_id(tmp_path, folder):
    """The checkpoint as a hub repo in a local cache (preprocessor_config.json and processor_config.json apart, as
    on the hub), downloaded and loaded by repo id, offline, with splitting off."""
    files = {str(p.relative_to(folder)): p.read_bytes() for p in Path(folder).rglob("*") if p.is_file()}
    assert {"preprocessor_config.json", "processor_config.json"} <= set(files)
    fill_hub_cache(tmp_path / "hf/hub", "model", "org/tiny-smolvlm", files)
    manifest = tmp_path / "manifest.json"
    run = _python(tmp_path, DOWNLOAD.format(repo="org/tiny-smolvlm", manifest=str(manifest), revision=REVISION,
                                            fetch=False))  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert {f["path"] for f in json.loads(manifest.read_text())["files"]} == set(files)
    load = _python(tmp_path, f"""
        from lvlm_debias.models.load import load_model
        model, processor = load_model("org/tiny-smolvlm", revision={REVISION!r}, device="cpu")
        print(type(model).__name__, type(processor).__name__, processor.image_processor.do_image_splitting)
    """)  # fmt: skip
    assert load.returncode == 0, load.stderr[-2000:]
    assert "Idefics3ForConditionalGeneration Idefics3Processor False" in load.stdout


@pytest.mark.xfail(
    importlib.util.find_spec("num2words") is None or importlib.util.find_spec("torchvision") is None,
    reason="SmolVLMProcessor needs num2words (and its video processor torchvision): not installed here",
    strict=True,
)
def test_a_smolvlm2_checkpoint_loads_with_its_own_processor(tmp_path):
    """A ``smolvlm`` checkpoint with a ``SmolVLMProcessor`` (SmolVLM2's) loads through the family."""
    from transformers import SmolVLMImageProcessorPil, SmolVLMProcessor, SmolVLMVideoProcessor

    folder = save_tiny_smolvlm(tmp_path / "smol", SHAPES, COLOURS, "smolvlm")
    tokenizer = load_entry(str(save_tiny_smolvlm(tmp_path / "i3", SHAPES, COLOURS)), ENTRY)[1].tokenizer
    image_processor = SmolVLMImageProcessorPil(max_image_size={"longest_edge": IMAGE_SIZE})
    SmolVLMProcessor(image_processor, tokenizer, SmolVLMVideoProcessor(), image_seq_len=IMAGE_TOKENS).save_pretrained(
        folder
    )
    model, processor = load_entry(str(folder), ENTRY)
    assert type(processor).__name__ == "SmolVLMProcessor" and family_of(processor).model_type == "smolvlm"
    assert next_token_logits(model, probe_inputs(processor, PROMPTS, "naive", IMAGES)).shape[0] == 2


@pytest.mark.slow
def test_paper_config_in_miniature_runs_with_a_smolvlm_from_the_hub(tmp_path, folder):
    """The paper config in miniature (``tests/miniature.py``) through the SmolVLM (Idefics3) path, to the report."""
    run_paper_config_in_miniature(tmp_path, folder, "smolvlm", TEMPLATE, "bfloat16", ["naive", "none", "zero"])
