"""The probes: what the model is fed in place of (or as) the question's image, one registry ``PROBES``.

A :class:`Probe` has a name, a kind and its transformation:

- ``image``: the real image, unchanged (naive);
- ``pixel``: the image tokens stay and the processed pixel tensor is replaced: all zeros (zero), all ones (one), or
  the image noised by VCD's forward diffusion at step 999 (noise) or at step 500 (vcd-noise, VCD's reference);
- ``text``: the prompt's image token is changed and no pixels are fed: removed (none) or replaced by ``<unk>`` (unk);
  a text probe may also put a content-free text in place of the question (na: "N/A" and no image, the content-free
  input of contextual calibration, Zhao et al. 2021, arXiv 2102.09690), built by :func:`probe_prompt`.

How a probe is run follows from it, not from lists of names: a probe whose input depends on the image
(:attr:`Probe.per_image`: the image kind, or a pixel probe that reads the image) runs once per question; the others
(text probes, constant pixel probes) depend on the prompt text alone and run once per distinct prompt. A ``seeded``
pixel probe draws its noise from one seed per image, ``stable_seed(seed, probe name, image)``
(:func:`probe_seeds`), so it does not depend on batching or sharding.

One function, :func:`probe_inputs`, builds the inputs of every probe for every model; it relies only on the
processor's own image token and image processor, and on the model's family (``models.families``: its image token, the
prompts' text ids, the blank image and where each image's pixels are in the pixel tensor). A new probe is one
:class:`Probe` and one line in ``PROBES`` (``docs/extending.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from lvlm_debias.inputs.noise import NOISE_PROBE_STEP, VCD_STEP, diffusion_noise, stable_seed
from lvlm_debias.models.prompts import build_prompt
from lvlm_debias.settings import registered_in

if TYPE_CHECKING:  # annotations only: the registry is read by the Snakefile and by jobs that load no model
    import torch
    from PIL import Image
    from transformers import BatchFeature, ProcessorMixin

#: the kinds of probe (see the module docstring).
KINDS = ("image", "pixel", "text")
#: contextual calibration's content-free text (Zhao et al. 2021): the na probe asks it in place of the question
CONTENT_FREE = "N/A"

#: a pixel probe's transformation: the processed pixel tensor, one seed per image (None unless the probe is
#: ``seeded``) and the family's ``map_images(pixels, fn)`` (``fn(i, image i's pixels)`` for every image, whatever the
#: tensor's layout) to the tensor fed instead, of the same shape and dtype.
PixelTransform = Callable[["torch.Tensor", Sequence[int] | None, Callable], "torch.Tensor"]
#: a text probe's transformation: a prompt's token ids, the image token's id and the Unk token's id (the family's
#: ``unk_token_id``: ``<unk>``, for Qwen2.5-VL ``<|vision_pad|>``) to the ids fed.
TextTransform = Callable[[Sequence[int], int, int], list[int]]


@dataclass(frozen=True)
class Probe:
    """One input variant: ``name``, ``kind`` (``image`` | ``pixel`` | ``text``) and its transformation.

    ``pixels`` (pixel probes) replaces the processed pixel tensor; ``reads_image`` says whether it reads the image's
    pixels (noise) or writes a constant tensor whatever the image (zero, one: the model is then fed a blank image's
    shape and image-token count); ``seeded`` whether it needs one seed per image. ``ids`` (text probes) changes the
    prompt's token ids; ``question`` (text probes), when set, is the content-free text that replaces the question
    before the prompt is built (:func:`probe_prompt`), so every question of a template shares one input.
    ``attention_groups``: whether the prompt still splits into the attention analysis's token groups (unk's single
    ``<unk>`` stands for the image and belongs to none of them).
    """

    name: str
    kind: str
    pixels: PixelTransform | None = None
    ids: TextTransform | None = None
    reads_image: bool = False
    seeded: bool = False
    attention_groups: bool = True
    question: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"probe {self.name!r}: kind must be one of {list(KINDS)}, got {self.kind!r}")
        if (self.pixels is not None) != (self.kind == "pixel"):
            raise ValueError(f"probe {self.name!r}: a pixel probe, and only a pixel probe, needs `pixels`")
        if (self.ids is not None) != (self.kind == "text"):
            raise ValueError(f"probe {self.name!r}: a text probe, and only a text probe, needs `ids`")
        if (self.reads_image or self.seeded) and self.kind != "pixel":
            raise ValueError(f"probe {self.name!r}: only a pixel probe reads the image or is seeded")
        if self.question is not None and (self.kind != "text" or not self.question.strip()):
            raise ValueError(f"probe {self.name!r}: only a text probe replaces the question, by a non-empty text")

    @property
    def per_image(self) -> bool:
        """Whether the input depends on the image (run once per question); else on the prompt text alone (run once
        per distinct prompt)."""
        return self.kind == "image" or self.reads_image or self.seeded

    @property
    def feeds_pixels(self) -> bool:
        """Whether the model is fed a pixel tensor (the image and pixel kinds)."""
        return self.kind != "text"


def _noised(pixels: torch.Tensor, seeds: Sequence[int] | None, map_images: Callable, step: int) -> torch.Tensor:
    """Each image noised at diffusion ``step`` with its own seed."""
    return map_images(pixels, lambda i, x: diffusion_noise(x, step, seeds[i]))


def _without_image(ids: Sequence[int], image_id: int, unk_id: int) -> list[int]:
    return [t for t in ids if t != image_id]


def _unk_for_image(ids: Sequence[int], image_id: int, unk_id: int) -> list[int]:
    return [unk_id if t == image_id else t for t in ids]


#: every probe by name, in the order the tables list them.
PROBES: dict[str, Probe] = {
    probe.name: probe
    for probe in (
        Probe("naive", "image"),
        Probe("none", "text", ids=_without_image),
        Probe("unk", "text", ids=_unk_for_image, attention_groups=False),
        Probe("noise", "pixel", pixels=partial(_noised, step=NOISE_PROBE_STEP), reads_image=True, seeded=True),
        Probe("zero", "pixel", pixels=lambda pixels, seeds, map_images: pixels.new_zeros(pixels.shape)),
        Probe("one", "pixel", pixels=lambda pixels, seeds, map_images: pixels.new_ones(pixels.shape)),
        Probe("vcd-noise", "pixel", pixels=partial(_noised, step=VCD_STEP), reads_image=True, seeded=True),
        Probe("na", "text", ids=_without_image, attention_groups=False, question=CONTENT_FREE),
    )
}


def get_probe(name: str) -> Probe:
    """The registered probe ``name``; an unknown name raises an error listing the known ones."""
    if name not in PROBES:
        raise ValueError(f"unknown probe {name!r}; known probes: {list(PROBES)}")
    return PROBES[name]


def check_probes(names: Sequence[str]) -> None:
    """Raise ``ValueError`` naming the unknown ones unless every name is a registered probe."""
    unknown = [p for p in names if p not in PROBES]
    if unknown:
        raise ValueError(f"unknown probes {unknown}; known probes: {list(PROBES)}")


@contextmanager
def registered(probe: Probe) -> Iterator[Probe]:
    """``PROBES`` with ``probe`` added for the ``with`` block, then as before (a name already registered fails)."""
    with registered_in(PROBES, probe.name, probe, "probe") as entry:
        yield entry


def probe_seeds(probe: str, seed: int, images: Sequence[str]) -> list[int] | None:
    """One seed per image key for a seeded probe, ``stable_seed(seed, probe, image)``; None for any other."""
    return [stable_seed(seed, probe, name) for name in images] if get_probe(probe).seeded else None


def probe_prompt(template: str, question: str, probe: str) -> str:
    """The prompt ``probe`` is asked with: ``template`` filled with ``question``, or with the probe's content-free
    text in its place (``Probe.question``: na's "N/A"), whatever the question."""
    spec = get_probe(probe)
    return build_prompt(template, question if spec.question is None else spec.question)


def image_token_id(processor: ProcessorMixin) -> int:
    """The id of the processor's image placeholder token (its family's ``image_token_id``)."""
    from lvlm_debias.models.families import family_of

    return family_of(processor).image_token_id(processor)


def left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Left-padded ``input_ids`` and ``attention_mask`` for token id lists of unequal length."""
    import torch

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
    spec = get_probe(probe)
    if spec.kind != "text":
        text = [name for name, p in PROBES.items() if p.kind == "text"]
        raise ValueError(f"probe {probe!r} is not a text probe; text probes: {text}")
    return spec.ids(ids, image_id, unk_id)


def probe_pixels(
    pixels: torch.Tensor,
    probe: str,
    noise_seeds: Sequence[int] | None = None,
    map_images: Callable | None = None,
    n_images: int | None = None,
) -> torch.Tensor:
    """The processed pixel tensor a probe feeds: unchanged (naive), ``zeros_like`` (zero), ``ones_like`` (one), or
    each image noised at step 999 (noise) or 500 (vcd-noise) with its own seed. ``map_images(pixels, fn)`` finds the
    images in the tensor: the family's ``map_images``, by default (None) one per row of a (N, C, H, W) tensor
    (``models.families.base.map_rows``); ``n_images`` the images it holds (None: one per row; Qwen2.5-VL's rows are
    patches)."""
    from lvlm_debias.models.families.base import map_rows

    spec = get_probe(probe)
    map_images = map_rows if map_images is None else map_images
    if spec.kind == "image":
        return pixels
    if spec.kind != "pixel":
        feeding = [name for name, p in PROBES.items() if p.feeds_pixels]
        raise ValueError(f"probe {probe!r} does not feed pixels; pixel probes: {feeding}")
    n_images = len(pixels) if n_images is None else n_images
    if spec.seeded and (noise_seeds is None or len(noise_seeds) != n_images):
        raise ValueError(f"probe {probe!r} needs one noise seed per image")
    return spec.pixels(pixels, noise_seeds if spec.seeded else None, map_images)


def probe_inputs(
    processor: ProcessorMixin,
    prompts: Sequence[str],
    probe: str,
    images: Sequence[Image.Image] | None = None,
    noise_seeds: Sequence[int] | None = None,
) -> BatchFeature | dict[str, torch.Tensor]:
    """Left-padded model inputs for ``prompts`` (each holding one image placeholder) under ``probe``.

    A per-image probe (naive, noise) needs one image per prompt (a seeded one also one seed per prompt); a constant
    pixel probe (zero, one) needs no image: a blank one is processed only to get the pixel tensor's shape and the
    image-token count, then replaced; a text probe feeds token ids alone.
    """
    from lvlm_debias.models.families import family_of

    spec = get_probe(probe)
    tokenizer = processor.tokenizer
    family = family_of(processor)
    if spec.kind == "text":
        image_id = family.image_token_id(processor)
        encoded = family.text_ids(processor, prompts)
        rows = [spec.ids(ids, image_id, family.unk_token_id(processor)) for ids in encoded]
        return left_pad(rows, tokenizer.pad_token_id)
    if not spec.per_image:
        images = [family.blank_image(processor)] * len(prompts)
    elif images is None or len(images) != len(prompts):
        raise ValueError(f"probe {probe!r} needs one image per prompt")
    tokenizer.padding_side = "left"
    texts = family.processor_prompts(processor, prompts)
    inputs = processor(text=texts, images=list(images), padding=True, return_tensors="pt")
    each_image = partial(family.map_images, inputs=inputs)
    inputs["pixel_values"] = probe_pixels(inputs["pixel_values"], probe, noise_seeds, each_image, len(prompts))
    return inputs
