"""Pieces of the embedded model's training: per-patch stage-0 labels, the stage-0 dense loss, and the frozen tower's
cached features (they must give the losses that pixels give)."""

import numpy as np
import pytest
import torch

from lvlm_debias.embedded.corpus import vocabulary_texts
from lvlm_debias.embedded.tiny_llava import TinyLlavaSpec, build_model, build_processor
from lvlm_debias.embedded.tokenizer import build_tokenizer
from lvlm_debias.embedded.train import (
    BatchSampler,
    TrainSettings,
    align_projector,
    embeds_with_image_features,
    encode,
    patch_targets,
    pretrain_vision,
    right_pad,
    tower_features,
    vision_targets,
)
from lvlm_debias.inputs.probes import image_token_id
from lvlm_debias.models.prompts import LLAVA_HF, build_prompt, without_image

SHAPES = ["circle", "square", "triangle", "star"]
COLOURS = ["red", "green", "blue"]


def _obj(shape, colour, x, y, size):
    return {"shape": shape, "colour": colour, "x": x, "y": y, "size": size, "hard": None}


def _marked(targets, channel):
    """Patch indices whose ``channel`` is set, for the single scene of ``targets``."""
    return torch.nonzero(targets[0, :, channel]).flatten().tolist()


def test_patch_targets_mark_the_patches_an_object_covers():
    # 32 px, patch 8: a 4 x 4 grid, patches numbered row by row (y, then x), as CLIP flattens them
    args = (SHAPES, COLOURS, 32, 8)
    centred = patch_targets([{"objects": [_obj("square", "blue", 16, 16, 16)]}], *args)
    assert centred.shape == (1, 16, len(SHAPES) + len(COLOURS))
    assert _marked(centred, SHAPES.index("square")) == [5, 6, 9, 10]
    assert _marked(centred, len(SHAPES) + COLOURS.index("blue")) == [5, 6, 9, 10]
    assert centred[0].sum().item() == 8  # shape and colour on four patches, nothing else
    # a small object marks the patch it sits in (cover is relative to the smaller of patch and box)
    small = patch_targets([{"objects": [_obj("star", "red", 26, 10, 4)]}], *args)
    assert _marked(small, SHAPES.index("star")) == [7]  # row 1, column 3
    # x-major would be wrong: an object in the top-right corner is patch 3, not 12
    corner = patch_targets([{"objects": [_obj("circle", "green", 28, 4, 8)]}], *args)
    assert _marked(corner, SHAPES.index("circle")) == [3]
    # half of the box in each of two patches: both at cover 0.25, neither at 0.6
    split = [{"objects": [_obj("triangle", "red", 8, 4, 8)]}]
    assert _marked(patch_targets(split, *args, cover=0.25), SHAPES.index("triangle")) == [0, 1]
    assert _marked(patch_targets(split, *args, cover=0.6), SHAPES.index("triangle")) == []


@pytest.fixture(scope="module")
def tiny():
    spec = TinyLlavaSpec(image_size=32, patch_size=8, vision_hidden=32, text_hidden=32, max_positions=64)
    tokenizer = build_tokenizer(vocabulary_texts(SHAPES, COLOURS, [LLAVA_HF, without_image(LLAVA_HF)]))
    return spec, tokenizer


def _model(spec, tokenizer, strategy):
    torch.manual_seed(0)
    spec = TinyLlavaSpec(**{**spec.__dict__, "vision_feature_select_strategy": strategy})
    return spec, build_model(spec, tokenizer), build_processor(spec, tokenizer)


@pytest.mark.parametrize("strategy", ["full", "default"])
def test_cached_tower_features_give_the_loss_and_gradients_of_pixels(tiny, strategy):
    spec, model, processor = _model(*tiny, strategy)
    tokenizer = processor.tokenizer
    image_id = image_token_id(processor)
    rows = [
        encode(tokenizer, build_prompt(LLAVA_HF, q), a, image_id, spec.image_tokens)
        for q, a in (("Is there a star in the image?", "Yes"), ("Describe the image.", "A red circle."))
    ]
    pixels = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    model.model.vision_tower.requires_grad_(False)
    features = tower_features(model, pixels, batch_size=1)
    assert features.shape == (2, spec.image_tokens, spec.vision_hidden)

    def loss_and_projector_grad(**inputs):
        model.zero_grad()
        loss = model(**inputs).loss
        loss.backward()
        return loss.item(), model.model.multi_modal_projector.linear_1.weight.grad.clone()

    batch = right_pad(rows, tokenizer.pad_token_id)
    from_pixels = loss_and_projector_grad(**batch, pixel_values=pixels)
    batch = right_pad(rows, tokenizer.pad_token_id)
    embeds = embeds_with_image_features(model, batch.pop("input_ids"), features)
    from_cache = loss_and_projector_grad(**batch, inputs_embeds=embeds)
    assert from_cache[0] == pytest.approx(from_pixels[0], rel=1e-5)
    torch.testing.assert_close(from_cache[1], from_pixels[1], rtol=1e-4, atol=1e-7)
    # the cache must hold what the projector reads, not something merely shaped like it
    shuffled = embeds_with_image_features(model, right_pad(rows, 0)["input_ids"], features.flip(0))
    assert not torch.allclose(shuffled, embeds)


def test_stage0_dense_loss_trains_the_tower_on_patch_labels(tiny):
    """The dense term is added with its weight, and its gradient reaches the tower: the same steps with and without it
    end in different towers; with weight 0 the per-patch labels change nothing."""
    spec, model, _ = _model(*tiny, "full")
    scenes = [
        {"objects": [_obj(SHAPES[i % 4], COLOURS[i % 3], 8 + 4 * (i % 5), 10 + 3 * (i % 4), 10)]} for i in range(16)
    ]
    pixels = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    targets, dense = vision_targets(scenes, SHAPES, COLOURS), patch_targets(scenes, SHAPES, COLOURS, 32, 8)
    initial = {k: v.clone() for k, v in model.model.vision_tower.state_dict().items()}

    def run(weight, dense_targets):
        model.model.vision_tower.load_state_dict(initial)
        torch.manual_seed(3)
        settings = TrainSettings(vision_steps=3, batch_size=4, vision_dense_weight=weight)
        losses = pretrain_vision(
            model.model.vision_tower, pixels, targets, settings, np.random.default_rng(0), dense_targets
        )
        return losses, {k: v.clone() for k, v in model.model.vision_tower.state_dict().items()}

    plain, plain_tower = run(0.0, None)
    ignored, ignored_tower = run(0.0, dense)
    dense_losses, dense_tower = run(2.0, dense)
    assert ignored == plain
    assert all(torch.equal(plain_tower[k], ignored_tower[k]) for k in plain_tower)
    # the image-level heads are drawn first, so at the first step they agree and the difference is the dense term
    assert dense_losses[0] - plain[0] > 0.1
    assert not all(torch.equal(plain_tower[k], dense_tower[k]) for k in plain_tower)


@pytest.mark.parametrize(
    ("change", "named"),
    [({"vision_dense_weight": -1.0}, "vision_dense_weight"), ({"vision_dense_cover": 0.0}, "vision_dense_cover")],
)
def test_stage0_settings_are_validated(change, named):
    with pytest.raises(ValueError, match=named):
        TrainSettings(**change)


def test_alignment_puts_present_objects_near_their_words_and_trains_only_the_projector(tiny):
    """Synthetic tower features: each shape has a direction, and an image's tokens carry its shapes' directions.
    After alignment the best cosine between an image's tokens and a shape word separates present from absent shapes,
    which it does not before; nothing but the projector changes."""
    spec, model, processor = _model(*tiny, "full")
    generator = torch.Generator().manual_seed(4)
    n, tokens, hidden = 64, spec.image_tokens, spec.vision_hidden
    directions = torch.randn(len(SHAPES), hidden, generator=generator) * 3
    presence = (torch.rand(n, len(SHAPES), generator=generator) < 0.4).float()
    features = torch.randn(n, tokens, hidden, generator=generator)
    for i in range(n):
        for s in torch.nonzero(presence[i]).flatten().tolist():
            features[i, 1 + s] += directions[s]  # shape s shows on patch token 1 + s
    word_ids = [processor.tokenizer.convert_tokens_to_ids(s) for s in SHAPES]
    words = torch.nn.functional.normalize(model.get_input_embeddings().weight[word_ids].detach(), dim=-1)

    def separation():
        with torch.no_grad():
            tokens_ = torch.nn.functional.normalize(model.model.multi_modal_projector(features), dim=-1)
            best = torch.einsum("bth,sh->bts", tokens_, words).amax(dim=1)
        return (best[presence.bool()].mean() - best[~presence.bool()].mean()).item()

    others = {k: v.clone() for k, v in model.state_dict().items() if "multi_modal_projector" not in k}
    before = separation()
    settings = TrainSettings(align_steps=150, batch_size=16, align_learning_rate=3e-3)
    losses = align_projector(model, features, presence, word_ids, settings, np.random.default_rng(0))
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])
    assert separation() > before + 0.3
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in others.items())


def test_length_grouped_batches_keep_every_row_equally_likely():
    rows = [[0] * 32] * 600 + [[0] * 38] * 300 + [[0] * 57] * 100  # existence, MME-like, MMMU-like lengths
    rng = np.random.default_rng(0)
    grouped = BatchSampler(rows, 8, group_by_length=True)
    counts = np.zeros(len(rows))
    for _ in range(4000):
        pick = grouped.draw(rng)
        assert len(pick) == 8 and len({len(rows[i]) for i in pick}) == 1  # one length per batch here
        np.add.at(counts, pick, 1)
    # each row is drawn 4000 * 8 / 1000 = 32 times on average, whatever its group
    for group in (slice(0, 600), slice(600, 900), slice(900, 1000)):
        assert counts[group].mean() == pytest.approx(32, rel=0.1)
    plain = BatchSampler(rows, 8, group_by_length=False)
    assert np.array_equal(plain.draw(np.random.default_rng(1)), np.random.default_rng(1).integers(1000, size=8))
