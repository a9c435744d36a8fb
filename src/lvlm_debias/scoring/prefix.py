"""First-position logits of many questions about one image from one pass over that image.

A placeholder model's prompt is ``text before the image + the image's tokens + the question and the rest``. The first
part (the *prefix*: for LLaVA-1.5 the system text and 576 image tokens, about 95 % of the prompt) is the same for
every question about an image, so it runs once per image; its key/value cache is then shared by a batch of question
*suffixes*: left-padded after the prefix, masked, with positions continuing the prefix's, so the answer position is
the last column of every row and each row equals a full forward pass of its whole prompt (up to float rounding).
Where the image-token count depends on the image (LLaVA-OneVision's anyres tiling), the processor counts each image's
tokens, and the prefixes of one batch's images, of different lengths, are left-padded as well.

A query-token model (InstructBLIP) cannot share a prefix: its Q-Former reads the question, so the image's tokens
depend on it. :func:`shares_prefix` says which (the family's ``shares_prefix``); the caller falls back to whole
prompts.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
from PIL import Image
from transformers import DynamicCache, PreTrainedModel, ProcessorMixin

from lvlm_debias.inputs.probes import probe_pixels
from lvlm_debias.models.families import family_of


def shares_prefix(processor: ProcessorMixin) -> bool:
    """Whether the image part of a prompt can be computed once for all questions about the image: a placeholder
    model's processor, whose image tokens do not depend on the text (not InstructBLIP's, whose Q-Former reads it)."""
    return family_of(processor).shares_prefix


class PromptIds:
    """Each prompt's token ids with the image placeholder expanded as the processor expands it: its image tokens and
    any tokens it wraps them in (SmolVLM's ``<fake_token_around_image><global-img>`` before them, another
    ``<fake_token_around_image>`` after), computed once per distinct prompt; the expansion is read from, and checked
    against, the processor's own on the first prompt."""

    def __init__(self, processor: ProcessorMixin) -> None:
        self.processor = processor
        self.family = family_of(processor)
        self.image_id = self.family.image_token_id(processor)
        self.cache: dict[str, list[int]] = {}
        self.tokens_per_image: int | None = None
        self.expansion: list[int] = []

    def __call__(self, prompt: str) -> list[int]:
        if prompt in self.cache:
            return self.cache[prompt]
        ids = self.processor.tokenizer(prompt, add_special_tokens=True)["input_ids"]
        if ids.count(self.image_id) != 1:
            raise ValueError(
                f"prompt {prompt!r} must hold exactly one image placeholder, has {ids.count(self.image_id)}"
            )
        at = ids.index(self.image_id)
        if self.tokens_per_image is None:
            blank = self.family.blank_image(self.processor)
            reference = self.processor(text=[prompt], images=[blank], return_tensors="pt")
            full = reference["input_ids"][0].tolist()
            self.tokens_per_image = full.count(self.image_id)
            # what the processor put for the placeholder: its image tokens, and any tokens it wraps them in
            self.expansion = full[at : len(full) - (len(ids) - at - 1)]
        expanded = ids[:at] + self.expansion + ids[at + 1 :]
        if not self.cache:
            if expanded != full:
                raise ValueError(
                    f"expanding the image placeholder of {prompt!r} by hand does not give the processor's ids; "
                    "this model family cannot share an image prefix"
                )
        self.cache[prompt] = expanded
        return expanded

    def prefix_length(self, prompt: str) -> int:
        """Tokens up to and including the prompt's last image token."""
        ids = self(prompt)
        return len(ids) - ids[::-1].index(self.image_id)


@torch.inference_mode()
def prefix_logits(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    ids: PromptIds,
    images: Sequence[Image.Image],
    prompts: Sequence[Sequence[str]],
    probe: str = "naive",
    noise_seeds: Sequence[int] | None = None,
) -> torch.Tensor:
    """Next-token logits (rows, V), float32, for ``prompts[i]`` (one or more prompts) about ``images[i]``, in order,
    under an image probe (naive; noise with one seed per image; zero / one), from one prefix pass per image.

    The prompts of all images must share one prefix text (one template); a prompt whose prefix differs fails,
    naming it.
    """
    if len(images) != len(prompts) or not images:
        raise ValueError(f"prefix_logits needs one list of prompts per image: {len(images)} images, {len(prompts)}")
    first = prompts[0][0]
    n_prefix = ids.prefix_length(first)
    prefix = ids(first)[:n_prefix]
    suffixes = []
    for group in prompts:
        for prompt in group:
            row = ids(prompt)
            if row[:n_prefix] != prefix:
                raise ValueError(f"prompt {prompt!r} does not share the prefix of {first!r}: one template per batch")
            suffixes.append(row[n_prefix:])
    family = family_of(model)
    # the processor on each image's first prompt: its pixels, what else the model reads of the image (anyres's
    # image_sizes) and its image-token count, which may differ between images (anyres)
    texts = family.processor_prompts(processor, [group[0] for group in prompts])
    processed = processor(text=texts, images=list(images), padding=True, return_tensors="pt")
    counts = (processed["input_ids"] == ids.image_id).sum(-1).tolist()
    text_before = prefix[: prefix.index(ids.image_id)]
    prefixes = [text_before + [ids.image_id] * n for n in counts]  # = prefix when the count is the blank image's
    width = max(len(p) for p in prefixes)
    prefix_ids = torch.full((len(images), width), processor.tokenizer.pad_token_id, dtype=torch.long)
    prefix_mask = torch.zeros((len(images), width), dtype=torch.long)
    for i, row in enumerate(prefixes):  # left-padded when images of different sizes get different counts
        prefix_ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
        prefix_mask[i, width - len(row) :] = 1
    image_keys = {k: v for k, v in processed.items() if k not in ("input_ids", "attention_mask", "pixel_values")}
    pixels = probe_pixels(processed["pixel_values"], probe, noise_seeds, partial(family.map_images, inputs=processed))
    batch = {"input_ids": prefix_ids, "attention_mask": prefix_mask, "pixel_values": pixels, **image_keys}
    prefix_positions = family.positions(prefix_mask)
    if prefix_positions is not None:
        batch["position_ids"] = prefix_positions
    out = family.forward(model, family.to_device(model, batch), use_cache=True, logits_to_keep=1)
    cache = family.cache_of(out)
    owner = torch.tensor([i for i, group in enumerate(prompts) for _ in group], device=model.device)
    layers = [(layer.keys[owner], layer.values[owner]) for layer in cache.layers]
    width = max(len(s) for s in suffixes)
    pad = processor.tokenizer.pad_token_id
    suffix_ids = torch.full((len(suffixes), width), pad, dtype=torch.long)
    suffix_mask = torch.zeros((len(suffixes), width), dtype=torch.long)
    for r, row in enumerate(suffixes):  # left-padded: the answer position is the last column
        suffix_ids[r, width - len(row) :] = torch.tensor(row, dtype=torch.long)
        suffix_mask[r, width - len(row) :] = 1
    owner_cpu = owner.cpu()
    lengths = torch.tensor([len(p) for p in prefixes])[owner_cpu]
    positions = lengths[:, None] + family.positions(suffix_mask)
    mask = torch.cat([prefix_mask[owner_cpu], suffix_mask], dim=1)
    step = family.to_device(model, {"input_ids": suffix_ids, "attention_mask": mask})
    out = family.forward(
        model,
        step,
        position_ids=positions.to(model.device),
        use_cache=True,
        logits_to_keep=1,
        **{family.cache_arg(model): DynamicCache(ddp_cache_data=layers)},
    )
    return out.logits[:, -1].float()
