"""Model inputs for each probe: the real image (Naive) or an input without visual information (None, Unk).

One function builds the inputs for every model; it relies only on the processor's own image token.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image
from transformers import BatchFeature, ProcessorMixin

#: probes that need the image; the others depend on the prompt text alone.
IMAGE_PROBES = ("naive",)
TEXT_PROBES = ("none", "unk")
PROBES = IMAGE_PROBES + TEXT_PROBES


def image_token_id(processor: ProcessorMixin) -> int:
    """The id of the processor's image placeholder token."""
    tokenizer = processor.tokenizer
    token = getattr(processor, "image_token", None) or getattr(tokenizer, "image_token", None) or "<image>"
    token_id = tokenizer.convert_tokens_to_ids(token)
    if token_id is None or token_id == tokenizer.unk_token_id:
        raise ValueError(f"the tokenizer has no image token {token!r}")
    return token_id


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


def probe_inputs(
    processor: ProcessorMixin,
    prompts: Sequence[str],
    probe: str,
    images: Sequence[Image.Image] | None = None,
) -> BatchFeature | dict[str, torch.Tensor]:
    """Left-padded model inputs for ``prompts`` (each holding one image placeholder) under ``probe``."""
    if probe not in PROBES:
        raise ValueError(f"unknown probe {probe!r}; known probes: {list(PROBES)}")
    tokenizer = processor.tokenizer
    if probe in IMAGE_PROBES:
        if images is None or len(images) != len(prompts):
            raise ValueError(f"probe {probe!r} needs one image per prompt")
        tokenizer.padding_side = "left"
        return processor(text=list(prompts), images=list(images), padding=True, return_tensors="pt")
    image_id = image_token_id(processor)
    encoded = tokenizer(list(prompts), add_special_tokens=True)["input_ids"]
    rows = [text_probe_ids(ids, probe, image_id, tokenizer.unk_token_id) for ids in encoded]
    return left_pad(rows, tokenizer.pad_token_id)
