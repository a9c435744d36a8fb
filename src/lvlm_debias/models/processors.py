"""The processor a checkpoint needs, built from its repo's files however old they are, and checked against the model.

Hub repos hold processor files written by older transformers versions, which transformers 5 turns into processors
that fail or, worse, run wrongly:

- ``llava-hf/llava-1.5-7b-hf`` at 95f2cf3 has no ``processor_config.json``: the ``LlavaProcessor`` gets
  ``patch_size`` and ``vision_feature_select_strategy`` None and the first image fails (``int // None``); a processor
  config from before transformers 4.47 has no ``num_additional_image_tokens`` (default 0), so the prompt gets one image
  token fewer than the vision tower gives features.
- ``Salesforce/instructblip-vicuna-7b`` at PR 14 names ``InstructBlipVideoProcessor``, which ``AutoProcessor`` builds:
  it needs torchvision, puts 4 × 32 video tokens before the text and returns 5-D pixels. Before PR 14 the repo has no
  processor config and its ``config.json`` no ``image_token_index``.

So the processor class follows the model's family (``models.families``: its ``processor_class``, by
``config.model_type``), not the repo's ``processor_class``; what the processor lacks is taken from the model's config
(:func:`fill_from_model_config`, logged);
and the image tokens the processor puts into a prompt are counted once and compared with what the vision tower gives
(:func:`check_image_tokens`), before the weights load.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from transformers import PreTrainedConfig, ProcessorMixin
from transformers.utils import PROCESSOR_NAME, cached_file

from lvlm_debias.models.families import FAMILIES, family_of
from lvlm_debias.models.prompts import IMAGE_PLACEHOLDER
from lvlm_debias.settings import schema_default

log = logging.getLogger(__name__)

#: revisions known to load, named in the errors about the repos they fix
KNOWN_GOOD_REVISIONS = {
    "llava-hf/llava-1.5-7b-hf": "95f2cf316249a98c11183f471ab76065c3e5f494",
    "Salesforce/instructblip-vicuna-7b": "9e554774e5c76eb8d1b90fac042e4e6385a3e7c3",
}


class CheckpointLayoutError(ValueError):
    """A checkpoint whose files cannot give a processor that matches its model; the message names the checkpoint,
    the values that disagree and what to pin or change."""


def _at(source: str, revision: str | None) -> str:
    return f"checkpoint {source!r} at revision {revision or 'main'!r}"


def _what_to_pin(source: str, revision: str | None) -> str:
    good = KNOWN_GOOD_REVISIONS.get(source)
    if good and good != revision:
        return f"pin revision {good} of {source} (known to load)"
    return "pin a revision of the repo whose processor files are current"


def saved_processor_config(source: str, revision: str | None = None) -> dict:
    """The repo's ``processor_config.json`` as a dict; ``{}`` when it has none (a local folder or a hub repo)."""
    path = cached_file(source, PROCESSOR_NAME, revision=revision, _raise_exceptions_for_missing_entries=False)
    if path is None:
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def expected_image_tokens(config: PreTrainedConfig) -> int | None:
    """Image tokens per image that the model fills with image features, from its config alone: its family's
    ``expected_image_tokens`` (LLaVA: ``(image_size / patch_size)² + CLS tokens − 1`` with "default" features, 576
    for LLaVA-1.5; InstructBLIP: ``num_query_tokens``, 32); None when unknown (a model_type of no family too)."""
    family = FAMILIES.get(getattr(config, "model_type", None))
    return None if family is None else family.expected_image_tokens(config)


def _image_token(processor: ProcessorMixin) -> str:
    token = getattr(processor, "image_token", None)
    return str(getattr(token, "content", token))  # InstructBLIP's processor holds an AddedToken


def fill_from_model_config(
    processor: ProcessorMixin, config: PreTrainedConfig, saved: Mapping, source: str
) -> dict[str, object]:
    """Set on ``processor`` what its saved config (``saved``, the repo's ``processor_config.json``) lacks, from the
    model's ``config``; return what was set (also logged).

    What the family's ``fill_processor`` names (LLaVA: ``patch_size``, ``vision_feature_select_strategy``,
    ``num_additional_image_tokens``; InstructBLIP: ``num_query_tokens``), and for every family the image token, when
    the processor's is not the one whose id the model's ``image_token_index`` names.
    """
    family = family_of(processor)
    filled = family.fill_processor(processor, config, saved)
    for name, value in filled.items():
        setattr(processor, name, value)
    tokenizer = processor.tokenizer
    if tokenizer.convert_tokens_to_ids(_image_token(processor)) != config.image_token_id:
        token = tokenizer.convert_ids_to_tokens(config.image_token_id)
        if token is not None:
            filled["image_token"] = token
            family.set_image_token(processor, token, config.image_token_id)
    if filled:
        log.info("checkpoint %r: taken from the model's config.json, which its processor files lack or name "
                 "otherwise: %s", source, filled)  # fmt: skip
    return filled


def load_processor(
    source: str,
    config: PreTrainedConfig,
    *,
    revision: str | None = None,
    trust_remote_code: bool = schema_default("models.*.trust_remote_code"),
) -> ProcessorMixin:
    """The processor of ``source`` for the model of ``config``: its family's ``processor_class`` (``models.families``;
    a ``model_type`` of no family raises ``UnknownFamilyError`` naming the known ones), read from the repo's files,
    completed by :func:`fill_from_model_config` and the family's ``prepare_processor``. A model config without
    ``image_token_index`` raises :class:`CheckpointLayoutError` naming the revision to pin."""
    family = family_of(config)
    model_type = family.model_type
    if getattr(config, "image_token_id", None) is None:
        raise CheckpointLayoutError(
            f"{_at(source, revision)}: its config.json has no image_token_index, so the model cannot tell which "
            "prompt tokens are the image's (a checkpoint from before its processor files were updated for "
            "transformers >= 4.47, e.g. Salesforce/instructblip-vicuna-7b before PR 14): "
            f"{_what_to_pin(source, revision)}, one with a processor_config.json and an image_token_index"
        )
    cls = family.processor_class
    saved = saved_processor_config(source, revision)
    named = saved.get("processor_class")
    if named and named != cls.__name__:
        log.info("%s names %s; building %s for model_type %r", _at(source, revision), named, cls.__name__, model_type)
    processor = cls.from_pretrained(source, revision=revision)
    fill_from_model_config(processor, config, saved, source)
    family.prepare_processor(processor)
    return processor


def processor_image_tokens(processor: ProcessorMixin, image_token_id: int) -> int:
    """Tokens of id ``image_token_id`` that ``processor`` puts into a prompt holding one image placeholder, for one
    blank image (the family's ``blank_image``)."""
    family = family_of(processor)
    texts = family.processor_prompts(processor, [f"{IMAGE_PLACEHOLDER}\nWhat is in the image?"])
    inputs = processor(text=texts, images=[family.blank_image(processor)], return_tensors="pt")
    return int((inputs["input_ids"][0] == image_token_id).sum())


def check_image_tokens(
    processor: ProcessorMixin, config: PreTrainedConfig, source: str, revision: str | None = None
) -> int | None:
    """The image tokens per image that ``processor`` gives, once checked equal to :func:`expected_image_tokens` of
    the model's ``config``; :class:`CheckpointLayoutError` naming the checkpoint and both counts otherwise (a
    processor that fails on a blank image too). None, unchecked, for a family whose count is not known."""
    expected = expected_image_tokens(config)
    if expected is None:
        log.info("%s: image-token count not checked (model_type %r)", _at(source, revision), config.model_type)
        return None
    fix = (
        f"upgrade the repo's {PROCESSOR_NAME} (transformers >= 4.47 writes patch_size, vision_feature_select_strategy"
        " and num_additional_image_tokens for LLaVA, num_query_tokens for InstructBLIP) or "
        f"{_what_to_pin(source, revision)}"
    )
    try:
        found = processor_image_tokens(processor, config.image_token_id)
    except (TypeError, ValueError) as err:
        raise CheckpointLayoutError(
            f"{_at(source, revision)}: {type(processor).__name__} fails on a blank image ({type(err).__name__}: "
            f"{err}): {fix}"
        ) from err
    if found != expected:
        raise CheckpointLayoutError(
            f"{_at(source, revision)}: {type(processor).__name__} puts {found} image tokens (id "
            f"{config.image_token_id}) into a prompt, but the model fills {expected} with image features "
            f"(from its config.json); {fix}"
        )
    return found
