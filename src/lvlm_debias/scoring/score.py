"""Batched first-position scoring of questions under each probe, with text-only references computed once per prompt."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import torch
from PIL import Image
from tqdm.auto import tqdm
from transformers import PreTrainedModel, ProcessorMixin

from lvlm_debias.models.prompts import build_prompt
from lvlm_debias.scoring.labels import YES_NO, label_of_token, label_probs
from lvlm_debias.scoring.probes import IMAGE_PROBES, PROBES, probe_inputs

__all__ = ["YES_NO", "load_image", "next_token_logits", "score_prompts", "score_questions"]

log = logging.getLogger(__name__)


def load_image(image_root: Path, record: Mapping) -> Image.Image:
    """The record's image as RGB; a missing or unreadable file raises an error naming it and the question."""
    path = Path(image_root) / record["image"]
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read image {path} of question {record.get('question_id')!r}: {err}") from err


@torch.inference_mode()
def next_token_logits(model: PreTrainedModel, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Logits (N, V) of the next token after each left-padded row of ``inputs``."""
    batch = {k: v.to(model.device) for k, v in inputs.items()}
    if "pixel_values" in batch:
        batch["pixel_values"] = batch["pixel_values"].to(model.dtype)
    position_ids = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)
    out = model(**batch, position_ids=position_ids, use_cache=False, logits_to_keep=1)
    return out.logits[:, -1].float()


def score_prompts(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    prompts: Sequence[str],
    probe: str,
    labels: Mapping[str, Sequence[str]],
    *,
    images: Sequence[Image.Image] | None = None,
    top_k: int = 100,
    batch_size: int = 32,
    desc: str | None = None,
) -> torch.Tensor:
    """Raw label probabilities (len(prompts), len(labels)) under ``probe``, in batches."""
    tokenizer = processor.tokenizer
    token_labels = label_of_token(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer)))), labels)
    out = []
    for start in tqdm(range(0, len(prompts), batch_size), desc=desc or probe, unit="batch", mininterval=2):
        chunk = prompts[start : start + batch_size]
        chunk_images = None if images is None else images[start : start + batch_size]
        inputs = probe_inputs(processor, chunk, probe, chunk_images)
        out.append(label_probs(next_token_logits(model, inputs), token_labels, len(labels), top_k).cpu())
    return torch.cat(out) if out else torch.zeros(0, len(labels))


def score_questions(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    questions: Sequence[Mapping],
    image_root: Path,
    *,
    template: str,
    labels: Mapping[str, Sequence[str]],
    probes: Sequence[str] = PROBES,
    top_k: int = 100,
    batch_size: int = 32,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """One row per question and probe: ``question_id``, ``probe``, ``label`` and raw ``p_<label>`` for each label.

    Image probes run once per question; text probes run once per distinct prompt, since without the image the input
    depends on the prompt text alone. The second value counts forward passes (rows scored) per probe.
    """
    unknown = [p for p in probes if p not in PROBES]
    if unknown:
        raise ValueError(f"unknown probes {unknown}; known probes: {list(PROBES)}")
    prompts = [build_prompt(template, q["text"]) for q in questions]
    frames, passes = [], {}
    for probe in probes:
        if probe in IMAGE_PROBES:
            images = [load_image(image_root, q) for q in questions]
            probs = score_prompts(
                model, processor, prompts, probe, labels, images=images, top_k=top_k, batch_size=batch_size
            )
            passes[probe] = len(prompts)
        else:
            distinct = list(dict.fromkeys(prompts))
            distinct_probs = score_prompts(
                model, processor, distinct, probe, labels, top_k=top_k, batch_size=batch_size
            )
            row_of = {prompt: i for i, prompt in enumerate(distinct)}
            probs = distinct_probs[[row_of[p] for p in prompts]]
            passes[probe] = len(distinct)
            log.info(
                "probe %s: %d forward passes for %d questions (%d saved by the per-prompt reference cache)",
                probe,
                len(distinct),
                len(prompts),
                len(prompts) - len(distinct),
            )
        frame = pd.DataFrame(
            {
                "question_id": [q["question_id"] for q in questions],
                "probe": probe,
                "label": [q["label"] for q in questions],
            }
        )
        for k, name in enumerate(labels):
            frame[f"p_{name}"] = probs[:, k].numpy()
        frames.append(frame)
    return pd.concat(frames, ignore_index=True), passes
