"""The official code's way of scoring, rebuilt as the baseline of the performance benchmark.

LLaVA-Align runs one sample at a time through ``generate`` (greedy, ``output_scores``, ``output_attentions`` and
``return_dict_in_generate`` on, up to 1024 new tokens, stopping at EOS), reads the label probabilities from the first
score, and recomputes the None and Unk references with two more ``generate`` calls per sample. Only the benchmark
uses this module; the workflow scores with ``scoring.score``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel, ProcessorMixin

from lvlm_debias.decoding.sampling import DecodingConfig
from lvlm_debias.inputs.images import load_image
from lvlm_debias.inputs.probes import get_probe, probe_inputs
from lvlm_debias.models.prompts import build_prompt
from lvlm_debias.scoring.labels import label_probs
from lvlm_debias.scoring.score import probe_frame, token_label_index

#: the official code's ``max_new_tokens``
OFFICIAL_MAX_NEW_TOKENS = 1024


def max_new_tokens_for(model: PreTrainedModel, input_length: int, wanted: int = OFFICIAL_MAX_NEW_TOKENS) -> int:
    """``wanted`` new tokens, cut to what the model's context holds after ``input_length`` prompt tokens
    (LLaVA-1.5's 4096 positions hold 1024; the embedded model's 256 do not)."""
    limit = getattr(model.config.get_text_config(), "max_position_embeddings", None)
    if limit is None:
        return wanted
    room = limit - input_length
    if room < 1:
        raise ValueError(f"a prompt of {input_length} tokens leaves no room in the model's {limit} positions")
    return min(wanted, room)


@torch.inference_mode()
def official_label_probs(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    questions: Sequence[Mapping],
    image_root: str | Path,
    *,
    template: str,
    labels: Mapping[str, Sequence[str]],
    probes: Sequence[str] = ("naive", "none", "unk"),
    top_k: int,
    max_new_tokens: int = OFFICIAL_MAX_NEW_TOKENS,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Raw label probabilities per question and probe, the official way: one ``generate`` call per question and
    probe, in question order. Returns the rows of ``scoring.score.score_questions`` and, per probe, the model steps
    spent (one per generated token; each call's first step is the prompt's forward pass).

    The model should be loaded with ``attn_implementation="eager"``, as ``output_attentions`` needs it.
    """
    token_labels = token_label_index(processor, labels)
    pad_id = processor.tokenizer.pad_token_id
    frames, steps = [], {}
    for probe in probes:
        rows, spent = [], 0
        for q in tqdm(questions, desc=f"official {probe}", unit="q", mininterval=2):
            prompt = build_prompt(template, q["text"])
            image = [load_image(Path(image_root), q)] if get_probe(probe).per_image else None
            inputs = probe_inputs(processor, [prompt], probe, image)
            batch = {k: v.to(model.device) for k, v in inputs.items()}
            length = batch["input_ids"].shape[1]
            out = model.generate(
                **batch,
                do_sample=False,
                max_new_tokens=max_new_tokens_for(model, length, max_new_tokens),
                output_scores=True,
                output_attentions=True,
                return_dict_in_generate=True,
                pad_token_id=pad_id,
            )
            rows.append(label_probs(out.scores[0].float(), token_labels, len(labels), top_k).cpu())
            spent += out.sequences.shape[1] - length
        frames.append(probe_frame(questions, probe, torch.cat(rows), labels))
        steps[probe] = spent
    return pd.concat(frames, ignore_index=True), steps


@torch.inference_mode()
def generate_answers(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    questions: Sequence[Mapping],
    image_root: str | Path,
    *,
    template: str,
    config: DecodingConfig,
    max_new_tokens: int,
    batch_size: int,
    seed: int = 0,
) -> list[str]:
    """One decoding configuration the usual way: batched ``model.generate`` over every question with the real image,
    the answers decoded. A sweep of G configurations done this way costs G of these runs."""
    torch.manual_seed(seed)
    texts = []
    for start in tqdm(range(0, len(questions), batch_size), desc=f"generate {config.name}", unit="batch"):
        chunk = questions[start : start + batch_size]
        prompts = [build_prompt(template, q["text"]) for q in chunk]
        inputs = probe_inputs(processor, prompts, "naive", [load_image(Path(image_root), q) for q in chunk])
        length = inputs["input_ids"].shape[1]
        out = model.generate(
            **{k: v.to(model.device) for k, v in inputs.items()},
            max_new_tokens=max_new_tokens,
            pad_token_id=processor.tokenizer.pad_token_id,
            **config.generate_kwargs(),
        )
        texts += processor.tokenizer.batch_decode(out[:, length:].tolist(), skip_special_tokens=True)
    return texts
