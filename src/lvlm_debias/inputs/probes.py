"""Model inputs for each probe: the real image (Naive) or an input without visual information.

None and Unk change the prompt's image token (removed, or replaced by ``<unk>``); Noise, Zero and One keep the image
tokens and replace the processed pixel tensor (VCD's diffusion noise at step 999, all zeros, all ones). One function
builds the inputs for every model; it relies only on the processor's own image token and image processor (see
``models.families`` for where the image tokens go in each model family: the family says its image token, the
prompts' text ids, the blank image and how to map each image's pixels).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import torch
from PIL import Image
from transformers import BatchFeature, ProcessorMixin

from lvlm_debias.inputs.noise import NOISE_PROBE_STEP, diffusion_noise
from lvlm_debias.models.families import family_of
from lvlm_debias.models.families.base import map_rows

#: probes whose input depends on the image content.
IMAGE_PROBES = ("naive", "noise")
#: probes that feed a constant pixel tensor: the input depends on the prompt text alone.
PIXEL_PROBES = ("zero", "one")
#: probes without image tokens' content: the image token is removed or replaced.
TEXT_PROBES = ("none", "unk")
PROBES = ("naive", "none", "unk", "noise", "zero", "one")
#: the probes whose answer depends on the prompt text alone (cached once per distinct prompt).
PROMPT_ONLY_PROBES = TEXT_PROBES + PIXEL_PROBES


def image_token_id(processor: ProcessorMixin) -> int:
    """The id of the processor's image placeholder token (its family's ``image_token_id``)."""
    return family_of(processor).image_token_id(processor)


def left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Left-padded ``input_ids`` and ``attention_mask`` for token id lists of unequal length."""
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
            mask[i, width - len(row) :] = 1
    return {"input_ids": ids, "attention_mask": mask}


def text_probe_ids(ids: Sequence[int], probe: str, image_id: int, unk_id: int) -> list[int]:
    """Token ids of a prompt under a text probe.

    none: every image token dropped (no image tokens at all); unk: the image token replaced by ``<unk>``.
    """
    if probe == "none":
        return [t for t in ids if t != image_id]
    if probe == "unk":
        return [unk_id if t == image_id else t for t in ids]
    raise ValueError(f"probe {probe!r} is not a text probe; text probes: {list(TEXT_PROBES)}")


def probe_pixels(
    pixels: torch.Tensor, probe: str, noise_seeds: Sequence[int] | None = None, map_images: Callable = map_rows
) -> torch.Tensor:
    """The processed pixel tensor a probe feeds: unchanged (naive), ``zeros_like`` (zero), ``ones_like`` (one), or
    each image noised at step 999 with its own seed (noise; ``map_images(pixels, fn)`` finds the images in the
    tensor: the family's ``map_images``, by default one per row of a (N, C, H, W) tensor)."""
    if probe == "naive":
        return pixels
    if probe == "zero":
        return torch.zeros_like(pixels)
    if probe == "one":
        return torch.ones_like(pixels)
    if probe == "noise":
        if noise_seeds is None or len(noise_seeds) != len(pixels):
            raise ValueError("probe 'noise' needs one noise seed per image")
        return map_images(pixels, lambda i, x: diffusion_noise(x, NOISE_PROBE_STEP, noise_seeds[i]))
    raise ValueError(f"probe {probe!r} does not feed pixels; pixel probes: {list(IMAGE_PROBES + PIXEL_PROBES)}")


def probe_inputs(
    processor: ProcessorMixin,
    prompts: Sequence[str],
    probe: str,
    images: Sequence[Image.Image] | None = None,
    noise_seeds: Sequence[int] | None = None,
) -> BatchFeature | dict[str, torch.Tensor]:
    """Left-padded model inputs for ``prompts`` (each holding one image placeholder) under ``probe``.

    naive and noise need one image per prompt (noise also one seed per prompt); zero and one need no image: a blank
    one is processed only to get the pixel tensor's shape and the image-token count, then replaced.
    """
    if probe not in PROBES:
        raise ValueError(f"unknown probe {probe!r}; known probes: {list(PROBES)}")
    tokenizer = processor.tokenizer
    family = family_of(processor)
    if probe in TEXT_PROBES:
        image_id = family.image_token_id(processor)
        encoded = family.text_ids(processor, prompts)
        rows = [text_probe_ids(ids, probe, image_id, tokenizer.unk_token_id) for ids in encoded]
        return left_pad(rows, tokenizer.pad_token_id)
    if probe in PIXEL_PROBES:
        images = [family.blank_image(processor)] * len(prompts)
    elif images is None or len(images) != len(prompts):
        raise ValueError(f"probe {probe!r} needs one image per prompt")
    tokenizer.padding_side = "left"
    texts = family.processor_prompts(processor, prompts)
    inputs = processor(text=texts, images=list(images), padding=True, return_tensors="pt")
    each_image = partial(family.map_images, inputs=inputs)
    inputs["pixel_values"] = probe_pixels(inputs["pixel_values"], probe, noise_seeds, each_image)
    return inputs
