"""Load a LLaVA or InstructBLIP checkpoint and its processor: a local folder or a hub repo id, the same code path
(``models.families`` lists the families and tells a checkpoint's; ``models.processors`` builds the processor from the
repo's files)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import torch
from transformers import AutoConfig, AutoModelForImageTextToText, PreTrainedModel, ProcessorMixin

from lvlm_debias.models.hub import check_hub_access, is_local
from lvlm_debias.models.processors import check_image_tokens, load_processor
from lvlm_debias.settings import schema_default

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def resolve_device(device: str = schema_default("models.*.device")) -> torch.device:
    """``"auto"`` picks CUDA when present, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """The dtype to load in. ``dtype`` names the GPU's: ``"auto"`` is float16; float16 / bfloat16 / float32 as named.
    On the CPU every model runs in float32 (half precision there is slow and, for some ops, missing), logged when
    that overrides the entry's dtype."""
    if dtype != "auto" and dtype not in DTYPES:
        raise ValueError(f"dtype {dtype!r} is not one of {['auto', *DTYPES]}")
    if device.type != "cuda":
        if dtype not in ("auto", "float32"):
            log.info("dtype %s is for GPUs: loading in float32 on %s", dtype, device)
        return torch.float32
    return torch.float16 if dtype == "auto" else DTYPES[dtype]


def load_model(
    source: str,
    *,
    revision: str | None = None,
    dtype: str = schema_default("models.*.dtype"),
    device: str = schema_default("models.*.device"),
    trust_remote_code: bool = schema_default("models.*.trust_remote_code"),
    attn_implementation: str | None = None,
) -> tuple[PreTrainedModel, ProcessorMixin]:
    """The model (eval mode, on ``device``) and its processor, with the tokenizer padding on the left for inference.

    Weights are read from safetensors files only. ``attn_implementation`` None keeps transformers' fast default;
    "eager" is needed only where attention weights are read (``output_attentions``). A hub ``source`` that cannot be
    fetched (gated, missing, unreachable, or not cached while offline) fails at once with ``HubAccessError``.

    The processor is the image processor of the model's family, whatever class the repo's files name, with what
    those files lack taken from the model's config (``models.processors.load_processor``). Before the weights load,
    the image tokens it puts into a prompt are counted once and checked against what the vision tower gives
    (``check_image_tokens``): a mismatch raises ``CheckpointLayoutError`` naming the checkpoint and both counts.
    """
    if not is_local(source):
        check_hub_access(source, revision)
    target = resolve_device(device)
    config = AutoConfig.from_pretrained(source, revision=revision, trust_remote_code=trust_remote_code)
    processor = load_processor(source, config, revision=revision, trust_remote_code=trust_remote_code)
    check_image_tokens(processor, config, source, revision)
    model = AutoModelForImageTextToText.from_pretrained(
        source,
        revision=revision,
        dtype=resolve_dtype(dtype, target),
        use_safetensors=True,
        trust_remote_code=trust_remote_code,
        **({"attn_implementation": attn_implementation} if attn_implementation else {}),
    )
    processor.tokenizer.padding_side = "left"
    return model.to(target).eval(), processor


def load_entry(
    source: str, entry: Mapping, attn_implementation: str | None = None
) -> tuple[PreTrainedModel, ProcessorMixin]:
    """``load_model`` with the settings of a config model entry (revision, dtype, device, trust_remote_code)."""
    return load_model(
        source,
        revision=entry.get("revision"),
        dtype=entry.get("dtype", "auto"),
        device=entry.get("device", "auto"),
        trust_remote_code=entry.get("trust_remote_code", False),
        attn_implementation=attn_implementation,
    )
