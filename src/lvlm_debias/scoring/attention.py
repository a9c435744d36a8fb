"""Running the attention analysis (the paper's Fig. 2): the answer position's attention under each probe, and the
attention of each newly generated token while the model describes the image.

The only place that reads attention weights, so the only one that needs ``attn_implementation="eager"``
(:func:`attention_with_entry` loads the model that way; scoring keeps transformers' fast default). Inputs come from
``inputs.probes.probe_inputs``, as in scoring; token groups from ``scoring.groups.group_masks``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from PIL import Image
from tqdm.auto import tqdm
from transformers import PreTrainedModel, ProcessorMixin

from lvlm_debias.inputs.images import load_image
from lvlm_debias.inputs.probes import PROBES, image_token_id, probe_inputs, probe_seeds
from lvlm_debias.models.families import family_of
from lvlm_debias.models.load import load_entry
from lvlm_debias.models.prompts import build_prompt
from lvlm_debias.scoring.groups import (
    GROUPS,
    PROMPT_GROUPS,
    group_masks,
    group_shares,
    token_shares,
    top_tokens,
    with_generated,
)
from lvlm_debias.scoring.labels import display_token
from lvlm_debias.world.captions import CAPTION_PROMPT


def attention_probes() -> list[str]:
    """The probes whose attention can be split into groups (``Probe.attention_groups``; unk's single <unk> token
    stands for the image: left out)."""
    return [name for name, p in PROBES.items() if p.attention_groups]


#: the per-question table of :func:`prompt_attention` and the per-sample table of :func:`generation_attention`
QUESTION_COLUMNS = ["probe", "question_id", "layer", "group", "share", "tokens"]
SAMPLE_COLUMNS = ["sample", "image", "step", "group", "share"]


def require_eager(model: PreTrainedModel) -> None:
    """Attention weights are only returned by the eager implementation: anything else is an error naming it."""
    implementation = getattr(model.config, "_attn_implementation", None)
    if implementation != "eager":
        raise ValueError(
            f"the attention analysis needs attn_implementation='eager', the model uses {implementation!r}; "
            "load it with load_entry(..., attn_implementation='eager')"
        )


def spread(items: Sequence, n: int) -> list:
    """``n`` items evenly spaced over ``items`` (first and last included), in order; all of them when n >= len."""
    if n >= len(items):
        return list(items)
    return [items[i] for i in np.linspace(0, len(items) - 1, n).round().astype(int)]


def system_lengths(processor: ProcessorMixin, prompts: Sequence[str]) -> list[int]:
    """Per prompt, the tokens before its image placeholder in its family's ``text_ids`` (the tokenizer's own encoding,
    BOS included): where the system group ends when the image tokens are removed (None probe)."""
    image_id = image_token_id(processor)
    encoded = family_of(processor).text_ids(processor, prompts)
    return [ids.index(image_id) for ids in encoded]


@torch.inference_mode()
def answer_attention(model: PreTrainedModel, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The last prompt position's attention weights, (layers, N, heads, K), for left-padded ``inputs``."""
    require_eager(model)
    family = family_of(model)
    batch = family.to_device(model, inputs)
    position_ids = family.positions(batch["attention_mask"], batch, model)
    out = family.forward(
        model, batch, position_ids=position_ids, use_cache=False, logits_to_keep=1, output_attentions=True
    )
    return torch.stack([layer[:, :, -1, :].float().cpu() for layer in out.attentions])


def prompt_attention(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    questions: Sequence[Mapping],
    image_root: str | Path,
    *,
    template: str,
    probes: Sequence[str] = ("naive", "none", "noise"),
    batch_size: int,
    top: int,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The answer position's attention per probe, averaged over heads, per question and averaged over questions.

    Returns the per-layer table (``probe``, ``layer`` from 1, ``group``, ``share``, ``tokens``: the group's mean token
    count, ``n_samples``), the top-token table (``probe``, ``rank``, ``group``, ``token``, ``share``: mean over
    questions of the attention, averaged over layers and heads, on that token; image tokens taken together), and the
    per-question table (``probe``, ``question_id``, ``layer``, ``group``, ``share``, ``tokens``) whose mean over
    questions is the per-layer table: what a bootstrap over the sampled questions resamples. The Noise probe is
    seeded per image as in scoring, so it sees the same noised images.
    """
    allowed = attention_probes()
    unknown = [p for p in probes if p not in allowed]
    if unknown:
        raise ValueError(f"probes {unknown} cannot be split into token groups; allowed: {allowed}")
    image_id = image_token_id(processor)
    prompts = [build_prompt(template, q["text"]) for q in questions]
    n_system = system_lengths(processor, prompts)
    images = [load_image(Path(image_root), q) for q in questions]
    shares_rows, token_rows, question_rows = [], [], []
    for probe in probes:
        seeds = probe_seeds(probe, seed, [q["image"] for q in questions])
        per_question, per_count, per_token = [], [], []
        for start in tqdm(range(0, len(prompts), batch_size), desc=f"attention {probe}", unit="batch", mininterval=2):
            rows = slice(start, start + batch_size)
            inputs = probe_inputs(processor, prompts[rows], probe, images[rows], seeds and seeds[rows])
            masks = group_masks(inputs["input_ids"], inputs["attention_mask"], image_id, n_system[rows])
            attention = answer_attention(model, inputs)
            per_question.append(group_shares(attention, masks, PROMPT_GROUPS))  # (layers, rows, groups)
            per_count.append(torch.stack([masks[g].sum(-1) for g in PROMPT_GROUPS], -1).double())  # (rows, groups)
            tokens = [
                [display_token(t) for t in processor.tokenizer.convert_ids_to_tokens(ids.tolist())]
                for ids in inputs["input_ids"]
            ]
            frame = token_shares(attention.mean(dim=(0, 2)), tokens, masks)
            frame["row"] += start
            per_token.append(frame)
        shares, counts = torch.cat(per_question, dim=1), torch.cat(per_count)
        n = len(prompts)
        total, sizes = shares.sum(1), counts.sum(0)
        for layer in range(shares.shape[0]):
            for g, group in enumerate(PROMPT_GROUPS):
                shares_rows.append(
                    {
                        "probe": probe,
                        "layer": layer + 1,
                        "group": group,
                        "share": float(total[layer, g]) / n,
                        "tokens": float(sizes[g]) / n,
                        "n_samples": n,
                    }
                )
                question_rows += [
                    {
                        "probe": probe,
                        "question_id": q["question_id"],
                        "layer": layer + 1,
                        "group": group,
                        "share": float(shares[layer, i, g]),
                        "tokens": float(counts[i, g]),
                    }
                    for i, q in enumerate(questions)
                ]
        token_rows.append(top_tokens(pd.concat(per_token, ignore_index=True), n, top).assign(probe=probe))
    tokens_table = pd.concat(token_rows, ignore_index=True)[["probe", "rank", "group", "token", "share", "rows"]]
    return pd.DataFrame(shares_rows), tokens_table, pd.DataFrame(question_rows, columns=QUESTION_COLUMNS)


def _eos_ids(model: PreTrainedModel, processor: ProcessorMixin) -> set[int]:
    eos = getattr(model.generation_config, "eos_token_id", None)
    ids = set(eos if isinstance(eos, list | tuple) else [eos]) | {processor.tokenizer.eos_token_id}
    return {i for i in ids if i is not None}


def generated_lengths(new_tokens: torch.Tensor, eos_ids: set[int]) -> torch.Tensor:
    """Per row of generated ids (N, T), how many tokens it generated: up to and including its first EOS, else T."""
    is_eos = torch.isin(new_tokens, torch.tensor(sorted(eos_ids), dtype=new_tokens.dtype))
    first = torch.where(is_eos, torch.arange(new_tokens.shape[1]), new_tokens.shape[1]).min(-1).values
    return torch.clamp(first + 1, max=new_tokens.shape[1])


@torch.inference_mode()
def generation_attention(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    images: Sequence[Image.Image],
    *,
    template: str,
    max_new_tokens: int,
    batch_size: int,
    prompt: str = CAPTION_PROMPT,
    names: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, list[str], pd.DataFrame]:
    """Greedy open-ended generation (``prompt``, default "Describe the image.") on ``images``, and at each step the
    attention of the position being read on each group, averaged over layers, heads and the samples still
    generating.

    Step 0 is the prompt's last position (it predicts the first token); step k >= 1 the k-th generated token (it
    predicts the next one), whose keys are the prompt and generated tokens 1..k. A sample takes part in steps 0 to
    (its length - 1), its length counting its EOS. Returns the table (``step``, ``group``, ``share``, ``n_samples``),
    the generated texts, and the per-sample table (``sample``: the image's position, ``image``: ``names[sample]`` or
    that position, ``step``, ``group``, ``share``) whose mean over the samples of a step is the table's share.
    """
    require_eager(model)
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens!r}")
    image_id = image_token_id(processor)
    text = build_prompt(template, prompt)
    eos_ids = _eos_ids(model, processor)
    sums: dict[int, torch.Tensor] = {}
    counts: dict[int, int] = {}
    texts: list[str] = []
    per_sample: list[dict] = []
    names = [str(i) for i in range(len(images))] if names is None else [str(n) for n in names]
    if len(names) != len(images):
        raise ValueError(f"names has {len(names)} entries for {len(images)} images")
    for start in tqdm(range(0, len(images), batch_size), desc="attention generation", unit="batch", mininterval=2):
        chunk = list(images[start : start + batch_size])
        inputs = probe_inputs(processor, [text] * len(chunk), "naive", chunk)
        masks = group_masks(inputs["input_ids"], inputs["attention_mask"], image_id)
        width = inputs["input_ids"].shape[1]
        out = model.generate(
            **family_of(model).to_device(model, inputs),
            do_sample=False,
            num_beams=1,
            max_new_tokens=max_new_tokens,
            output_attentions=True,
            return_dict_in_generate=True,
            pad_token_id=processor.tokenizer.pad_token_id,
        )
        new = out.sequences[:, width:].cpu()
        lengths = generated_lengths(new, eos_ids)
        texts += [
            processor.tokenizer.decode(row[:n], skip_special_tokens=True) for row, n in zip(new, lengths, strict=True)
        ]
        for step, layers in enumerate(out.attentions):
            active = lengths > step
            if not bool(active.any()):
                break
            attention = torch.stack([layer[:, :, -1, :].float().cpu() for layer in layers])
            shares = group_shares(attention, with_generated(masks, step)).mean(0)  # (N, groups), mean over layers
            sums[step] = sums.get(step, 0) + shares[active].sum(0)
            counts[step] = counts.get(step, 0) + int(active.sum())
            per_sample += [
                {
                    "sample": start + i,
                    "image": names[start + i],
                    "step": step,
                    "group": group,
                    "share": float(shares[i, g]),
                }
                for i in active.nonzero().flatten().tolist()
                for g, group in enumerate(GROUPS)
            ]
    rows = [
        {"step": step, "group": group, "share": float(sums[step][g]) / counts[step], "n_samples": counts[step]}
        for step in sorted(sums)
        for g, group in enumerate(GROUPS)
    ]
    samples = pd.DataFrame(per_sample, columns=SAMPLE_COLUMNS).sort_values(["sample", "step"], kind="stable")
    return pd.DataFrame(rows, columns=["step", "group", "share", "n_samples"]), texts, samples.reset_index(drop=True)


class AttentionTables(NamedTuple):
    """What rule attention writes: the per-layer, top-token and per-question tables of :func:`prompt_attention`, the
    per-step and per-sample tables of :func:`generation_attention`, and its generated texts."""

    layers: pd.DataFrame
    tokens: pd.DataFrame
    questions: pd.DataFrame
    generation: pd.DataFrame
    samples: pd.DataFrame
    texts: list[str]


def attention_with_entry(
    model_dir: str,
    entry: Mapping,
    questions: Sequence[Mapping],
    image_root: str | Path,
    settings: Mapping,
    seed: int = 0,
) -> AttentionTables:
    """What rule attention runs: the model of a config ``entry`` loaded with eager attention, ``settings["n_samples"]``
    questions spread evenly over ``questions``; the tables of :func:`prompt_attention` on them and of
    :func:`generation_attention` on their distinct images."""
    model, processor = load_entry(model_dir, entry, attn_implementation="eager")
    chosen = spread(questions, settings["n_samples"])
    batch_size = settings["batch_size"]
    layers, tokens, per_question = prompt_attention(
        model,
        processor,
        chosen,
        image_root,
        template=entry["prompt"],
        probes=settings["probes"],
        batch_size=batch_size,
        top=settings["top"],
        seed=seed,
    )
    distinct = list(dict.fromkeys(q["image"] for q in chosen))
    images = [load_image(Path(image_root), {"image": name}) for name in distinct]
    generation, texts, samples = generation_attention(
        model,
        processor,
        images,
        template=entry["prompt"],
        max_new_tokens=settings["max_new_tokens"],
        batch_size=batch_size,
        names=distinct,
    )
    return AttentionTables(layers, tokens, per_question, generation, samples, texts)
