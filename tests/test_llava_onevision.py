"""LLaVA-OneVision behind the same interface as LLaVA: a tiny checkpoint (anyres tiling, Qwen2 language model, a
tokenizer without ``<unk>``) saved to a folder and loaded as a downloaded one is, scored under every probe, with and
without the prefix cache, decoded with VDD / VCD, and read for attention."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import COLOURS, SHAPES, write_questions
from family_checks import alpha_zero_reproduces_greedy, library_entry_points_run, reference_branch_matches_full_forward
from hub_cache import REVISION, fill_hub_cache
from miniature import run_paper_config_in_miniature
from PIL import Image
from test_downloads import DOWNLOAD, _python
from tiny_llava_onevision import IMAGE_SIZE, PATCH_SIZE, TEMPLATE, save_tiny_llava_onevision

from lvlm_debias.inputs.probes import image_token_id, probe_inputs
from lvlm_debias.models.families import family_of
from lvlm_debias.models.families.llava_onevision import UNK_STAND_IN, LlavaOnevisionImageProcessor
from lvlm_debias.models.load import load_entry
from lvlm_debias.models.prompts import build_prompt
from lvlm_debias.scoring.cache import references_with_entry
from lvlm_debias.scoring.prefix import PromptIds, prefix_logits, shares_prefix
from lvlm_debias.scoring.score import YES_NO, next_token_logits

ENTRY = {"prompt": TEMPLATE, "dtype": "float32", "device": "cpu"}
PROMPTS = [build_prompt(TEMPLATE, "Is there a red circle in the image?"), build_prompt(TEMPLATE, "Is there a star?")]
BASE = (IMAGE_SIZE // PATCH_SIZE) ** 2  # the base view's features, num_image_tokens


def _image(seed: int, height: int, width: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8))


#: a square and a wide image: their anyres layouts, hence their image-token counts, differ
IMAGES = [_image(0, 32, 32), _image(1, 20, 48)]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return str(save_tiny_llava_onevision(tmp_path_factory.mktemp("llava_onevision"), SHAPES, COLOURS))


@pytest.fixture(scope="module")
def onevision(folder):
    return load_entry(folder, ENTRY)


def _count(processor, image) -> int:
    return int((probe_inputs(processor, PROMPTS[:1], "naive", [image])["input_ids"] == image_token_id(processor)).sum())


def test_loads_from_a_folder_with_as_many_image_tokens_as_its_anyres_layout(onevision):
    model, processor = onevision
    assert type(model).__name__ == "LlavaOnevisionForConditionalGeneration"
    assert isinstance(processor, LlavaOnevisionImageProcessor) and family_of(model) is family_of(processor)
    image_id = image_token_id(processor)
    plain = processor.tokenizer(PROMPTS[0])["input_ids"]  # no BOS: Qwen2's tokenizer prepends nothing
    at = plain.index(image_id)
    naive = probe_inputs(processor, PROMPTS[:1], "naive", IMAGES[:1])
    n = _count(processor, IMAGES[0])
    assert naive["input_ids"][0].tolist() == plain[:at] + [image_id] * n + plain[at + 1 :]
    # 32 x 32 fits the 2 x 2 pinpoint: base view + 8 x 8 unpadded features + one newline per row
    assert n == BASE + 8 * 8 + 8
    assert naive["pixel_values"].shape == (1, 5, 3, IMAGE_SIZE, IMAGE_SIZE) and naive["image_sizes"].tolist() == [
        [32, 32]
    ]
    blank = family_of(processor).blank_image(processor)
    assert blank.size == (IMAGE_SIZE, IMAGE_SIZE) and _count(processor, blank) == BASE + 4 * 4 + 4  # one tile
    assert _count(processor, IMAGES[1]) not in (n, BASE + 4 * 4 + 4)  # the count follows each image's size


def test_the_real_checkpoints_counts_follow_from_their_processor_config(onevision):
    """The numbers the family's docstring gives for llava-onevision-qwen2-*-ov-hf (384 px crops, 729 base features,
    pinpoints 384 x 1..6): the processor's own count for a 384 x 384 and a 640 x 480 image."""
    _, processor = onevision
    real = LlavaOnevisionImageProcessor(
        image_processor=type(processor.image_processor)(
            size={"height": 384, "width": 384},
            image_grid_pinpoints=[[a * 384, b * 384] for a in range(1, 7) for b in range(1, 7)],
        ),
        tokenizer=processor.tokenizer,
        num_image_tokens=729,
        vision_feature_select_strategy="full",
    )
    assert real._get_number_of_features(384, 384, 384, 384) == 1485
    assert real._get_number_of_features(480, 640, 384, 384) == 2929


def test_none_drops_the_image_token_and_unk_feeds_one_endoftext(onevision):
    """Qwen2's tokenizer has no <unk>: Unk puts one <|endoftext|> where the <image> placeholder was."""
    model, processor = onevision
    tokenizer = processor.tokenizer
    assert tokenizer.unk_token_id is None
    image_id = image_token_id(processor)
    plain = tokenizer(PROMPTS[0])["input_ids"]
    none = probe_inputs(processor, PROMPTS[:1], "none")
    assert none["input_ids"][0].tolist() == [t for t in plain if t != image_id] and "pixel_values" not in none
    unk = probe_inputs(processor, PROMPTS[:1], "unk")
    stand_in = tokenizer.convert_tokens_to_ids(UNK_STAND_IN)
    assert unk["input_ids"][0].tolist() == [stand_in if t == image_id else t for t in plain]
    assert stand_in == tokenizer.pad_token_id and unk["attention_mask"].all()  # fed as a token, not masked
    assert not torch.allclose(next_token_logits(model, none), next_token_logits(model, unk))


def test_text_probes_read_the_language_model_and_image_probes_the_image(onevision):
    model, processor = onevision
    naive = probe_inputs(processor, PROMPTS[:1], "naive", IMAGES[:1])
    with torch.no_grad():
        whole = model(**naive).logits[:, -1]
    torch.testing.assert_close(next_token_logits(model, naive), whole, atol=1e-5, rtol=1e-5)
    other = probe_inputs(processor, PROMPTS[:1], "naive", [_image(7, 32, 32)])
    assert not torch.allclose(next_token_logits(model, other), whole, atol=1e-4)  # the image reaches the answer
    for probe in ("zero", "one"):  # a blank image's layout, its pixels replaced
        inputs = probe_inputs(processor, PROMPTS[:1], probe)
        assert inputs["image_sizes"].tolist() == [[IMAGE_SIZE, IMAGE_SIZE]]
        assert bool((inputs["pixel_values"] == (probe == "one")).all())


def test_noise_maps_each_images_real_tiles_only(onevision):
    """The padding tiles of a smaller image's row stay zero; its noise is the same in a batch as alone."""
    _, processor = onevision
    both = probe_inputs(processor, PROMPTS, "noise", IMAGES, [3, 4])
    naive = probe_inputs(processor, PROMPTS, "naive", IMAGES)
    pixels, clean = both["pixel_values"], naive["pixel_values"]
    assert pixels.shape[1] == 7 and bool((clean[0, 5:] == 0).all())  # row 0 (2 x 2 grid + base) padded by 2
    assert bool((pixels[0, 5:] == 0).all()) and not torch.equal(pixels[0, :5], clean[0, :5])
    alone = probe_inputs(processor, PROMPTS[:1], "noise", IMAGES[:1], [3])["pixel_values"]
    torch.testing.assert_close(pixels[0, :5], alone[0])


@pytest.mark.parametrize("probe", ["naive", "none", "unk", "noise", "zero"])
def test_padding_inside_the_batch_does_not_change_the_answer(onevision, probe):
    """Two images of different sizes: different image-token counts and tile counts, padded in one batch."""
    model, processor = onevision
    images = IMAGES if probe in ("naive", "noise") else None
    both = next_token_logits(model, probe_inputs(processor, PROMPTS, probe, images, [3, 4]))
    for i in range(2):
        one = next_token_logits(
            model, probe_inputs(processor, PROMPTS[i : i + 1], probe, images and images[i : i + 1], [[3, 4][i]])
        )
        torch.testing.assert_close(both[i], one[0], atol=1e-4, rtol=1e-4)
        assert int(both[i].argmax()) == int(one[0].argmax())


@pytest.mark.parametrize("probe", ["naive", "noise", "zero"])
def test_the_prefix_cache_gives_the_full_forwards_logits(onevision, probe):
    """Two images of different sizes (prefixes of different lengths), two and three questions of uneven lengths:
    every row of one prefix pass per image equals the whole prompt's forward."""
    model, processor = onevision
    assert shares_prefix(processor)
    questions = [
        ["Is there a red circle in the image?", "Is there a star?"],
        ["Is there a blue square?", "Is there a green triangle in the image?", "Is there a circle?"],
    ]
    prompts = [[build_prompt(TEMPLATE, q) for q in group] for group in questions]
    seeds = [11, 12] if probe == "noise" else None
    cached = prefix_logits(model, processor, PromptIds(processor), IMAGES, prompts, probe, seeds)
    flat = [p for group in prompts for p in group]
    per_row = [IMAGES[i] for i, group in enumerate(prompts) for _ in group]
    row_seeds = [seeds[i] for i, group in enumerate(prompts) for _ in group] if seeds else None
    if probe == "zero":  # here the zeros fill each question's image's layout (scoring runs Zero on the blank image)
        inputs = probe_inputs(processor, flat, "naive", per_row)
        inputs["pixel_values"] = torch.zeros_like(inputs["pixel_values"])
    else:
        inputs = probe_inputs(processor, flat, probe, per_row, row_seeds)
    full = next_token_logits(model, inputs)
    torch.testing.assert_close(cached, full, atol=1e-4, rtol=1e-4)
    assert (cached.argmax(-1) == full.argmax(-1)).all()
    assert not torch.allclose(cached[0], cached[2], atol=1e-3)  # the two images' rows differ


@pytest.mark.parametrize("reference", ["none", "unk", "vcd-noise"])
def test_reference_branch_cache_matches_full_forward(onevision, reference):
    steps = ([5, 9], [7, 8])  # words, not special tokens (ids 0-4: <image> is 3)
    reference_branch_matches_full_forward(*onevision, PROMPTS, IMAGES, reference, steps)


@pytest.mark.parametrize("method", ["vdd-both", "vcd"])
def test_alpha_zero_reproduces_plain_greedy_decoding(onevision, method):
    alpha_zero_reproduces_greedy(*onevision, PROMPTS, IMAGES, method)


def _two_images(tmp_path, questions):
    """``questions`` about two images of different sizes (two questions each), so that the batches mix anyres
    layouts and an image's prefix serves two questions."""
    for k, size in enumerate([(32, 32), (20, 48)]):
        _image(k, *size).save(tmp_path / f"{k}.png")
    return [{**q, "image": f"{i % 2}.png"} for i, q in enumerate(questions)]


def test_the_rules_library_entry_points_run_on_it(folder, tmp_path):
    """What the scoring, generation (OPERA included) and attention jobs call, with the folder and a config entry;
    the scoring shard shares the image prefix and equals whole-prompt scoring."""
    questions = _two_images(tmp_path, write_questions(tmp_path, 4, labels=("yes", "no")))
    shard, passes, layers = library_entry_points_run(folder, ENTRY, tmp_path, questions, reference="vdd-unk")
    assert passes["naive"] < passes["naive rows"] == 4  # one prefix pass per image and batch, not per question
    common = dict(labels=YES_NO, top_k=20, batch_size=3, seed=0)
    whole, _ = references_with_entry(folder, ENTRY, {"random": questions}, tmp_path, probes=["naive"], **common)
    cached = shard[shard["probe"] == "naive"].set_index("question_id")["p_yes"]
    np.testing.assert_allclose(cached.sort_index(), whole.set_index("question_id")["p_yes"].sort_index(), atol=1e-4)
    image_share = layers[(layers["probe"] == "naive") & (layers["group"] == "image")]["share"]
    assert image_share.gt(0).all()  # the image tokens, however many, are a group of their own


def test_downloads_and_loads_by_repo_id(tmp_path, folder):
    """The checkpoint as a hub repo in a local cache (its processor files named as the hub's are), downloaded and
    loaded by repo id, offline, as the image-only processor."""
    files = {str(p.relative_to(folder)): p.read_bytes() for p in Path(folder).rglob("*") if p.is_file()}
    assert json.loads(files["processor_config.json"])["processor_class"] == "LlavaOnevisionProcessor"
    assert "chat_template.json" in files and "video_preprocessor_config.json" not in files
    fill_hub_cache(tmp_path / "hf/hub", "model", "org/tiny-llava-onevision", files)
    manifest = tmp_path / "manifest.json"
    run = _python(tmp_path, DOWNLOAD.format(repo="org/tiny-llava-onevision", manifest=str(manifest),
                                            revision=REVISION, fetch=False))  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert {f["path"] for f in json.loads(manifest.read_text())["files"]} == set(files)
    load = _python(tmp_path, f"""
        from lvlm_debias.models.load import load_model
        model, processor = load_model("org/tiny-llava-onevision", revision={REVISION!r}, device="cpu")
        print(type(model).__name__, type(processor).__name__, processor.num_image_tokens)
    """)  # fmt: skip
    assert load.returncode == 0, load.stderr[-2000:]
    assert f"LlavaOnevisionForConditionalGeneration LlavaOnevisionImageProcessor {BASE}" in load.stdout


def test_a_processor_config_without_the_anyres_settings_gets_them_from_the_model(tmp_path, folder):
    """An older upload's processor_config.json without num_image_tokens / strategy / aspect ratio: filled from
    config.json (num_image_tokens = (image_size / patch_size)²), so the counts are the model's."""
    copy = tmp_path / "old"
    copy.mkdir()
    for p in Path(folder).iterdir():
        (copy / p.name).write_bytes(p.read_bytes())
    saved = json.loads((copy / "processor_config.json").read_text())
    for key in ("num_image_tokens", "vision_feature_select_strategy", "vision_aspect_ratio"):
        saved.pop(key)
    (copy / "processor_config.json").write_text(json.dumps(saved))
    model, processor = load_entry(str(copy), ENTRY)
    assert processor.num_image_tokens == BASE and processor.vision_feature_select_strategy == "full"
    next_token_logits(model, probe_inputs(processor, PROMPTS, "naive", IMAGES))  # features and tokens match


@pytest.mark.slow
def test_paper_config_in_miniature_runs_with_a_llava_onevision_from_the_hub(tmp_path, folder):
    """The paper config in miniature (``tests/miniature.py``) through the LLaVA-OneVision path, to the report."""
    run_paper_config_in_miniature(tmp_path, folder, "llava-onevision", TEMPLATE, "float16", ["naive", "none", "noise"])
