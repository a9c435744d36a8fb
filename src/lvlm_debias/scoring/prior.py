"""Prior probing (the paper's Fig. 1), the model calls: what a model answers about an object that is not in the
image, under every probe input (``analysis.prior`` reads the table)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import torch
from transformers import PreTrainedModel, ProcessorMixin

from lvlm_debias.data.jsonl import read_jsonl
from lvlm_debias.inputs.images import load_image
from lvlm_debias.inputs.noise import stable_seed
from lvlm_debias.inputs.probes import get_probe, probe_inputs
from lvlm_debias.models.load import load_entry
from lvlm_debias.models.prompts import build_prompt
from lvlm_debias.scoring.labels import display_token
from lvlm_debias.scoring.score import next_token_logits


def image_without(annotations: Sequence[Mapping], absent: str) -> Mapping:
    """The first eval image whose objects do not include ``absent`` (the probe's image)."""
    for record in annotations:
        names = {o.get("name", o.get("shape")) for o in record.get("objects", [])}
        if record.get("split", "eval") == "eval" and absent not in names:
            return record
    raise ValueError(f"no eval image lacks the object {absent!r}; choose another 'absent' in prior_probing.questions")


def top_answers(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    prompt: str,
    image,
    probes: Sequence[str],
    top: int,
    seed: int = 0,
) -> pd.DataFrame:
    """The ``top`` most likely first answer tokens of ``prompt`` under each probe: columns ``probe``, ``rank`` (1 =
    most likely), ``answer`` (the token as a bare word) and ``probability`` (softmax over the whole vocabulary)."""
    replacing = [p for p in probes if get_probe(p).question is not None]
    if replacing:
        raise ValueError(
            f"probes {replacing} ask a content-free text in place of the question, which has no prior to probe; "
            "drop them from prior_probing.probes"
        )
    tokenizer = processor.tokenizer
    rows = []
    for probe in probes:
        inputs = probe_inputs(processor, [prompt], probe, [image], [stable_seed(seed, "noise", "prior", prompt)])
        probs = torch.softmax(next_token_logits(model, inputs)[0], dim=-1)
        values, ids = probs.topk(min(top, probs.numel()))
        for rank, (p, token) in enumerate(
            zip(values.tolist(), tokenizer.convert_ids_to_tokens(ids.tolist()), strict=True), 1
        ):
            rows.append({"probe": probe, "rank": rank, "answer": display_token(token), "probability": p})
    return pd.DataFrame(rows)


def prior_probing(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    questions: Sequence[Mapping],
    annotations: Sequence[Mapping],
    image_root: Path,
    template: str,
    probes: Sequence[str],
    top: int,
    seed: int = 0,
) -> pd.DataFrame:
    """Top answers for each configured ``{"text", "absent"}`` question on an image without that object."""
    frames = []
    for q in questions:
        record = image_without(annotations, q["absent"])
        image = load_image(image_root, record)
        table = top_answers(model, processor, build_prompt(template, q["text"]), image, probes, top, seed)
        frames.append(table.assign(question=q["text"], absent=q["absent"], image=record["image"]))
    out = pd.concat(frames, ignore_index=True)
    return out[["question", "absent", "image", "probe", "rank", "answer", "probability"]]


def prior_probing_with_entry(
    model_dir: str | Path,
    entry: Mapping,
    questions: Sequence[Mapping],
    annotations: str | Path,
    probes: Sequence[str],
    top: int,
    seed: int,
) -> pd.DataFrame:
    """:func:`prior_probing` with the model of config ``entry`` loaded from ``model_dir``, on the images of the
    annotations file ``annotations`` (image paths relative to its folder)."""
    model, processor = load_entry(str(model_dir), entry)
    records = read_jsonl(annotations)
    return prior_probing(
        model, processor, questions, records, Path(annotations).parent, entry["prompt"], probes, top, seed
    )  # fmt: skip
