"""The attention analysis (rule attention) at LLaVA-1.5-7B scale on one GPU (random weights; no hub access needed).

Builds the llava-1.5-7b architecture (``bench/gpu_llava.py``) in float16 with eager attention, and a real
``LlavaProcessor`` at 336 px / patch 14 with LLaVA-1.5's ``default`` feature strategy (the processor expands
``<image>`` to 576 tokens) around the embedded word-level tokenizer; prompts in the paper's ``llava_v1`` one-word
format. Runs ``lvlm_debias.scoring.attention.prompt_attention`` (naive, none, noise) and ``generation_attention``
("Describe the image.", greedy) and reports, per part: seconds, peak GPU memory, the image group's size and the
largest deviation of the per-layer / per-step shares from summing to 1. Values of the shares mean nothing here
(random weights). Run: ``PYTHONPATH=src python bench/gpu_attention.py --out $OUT/gpu_attention.csv``; ``--tiny`` runs
the same code on a small model on the CPU.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from transformers import LlavaForConditionalGeneration

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_llava import llava_config  # noqa: E402

from lvlm_debias.embedded.corpus import vocabulary_texts  # noqa: E402
from lvlm_debias.embedded.tiny_llava import TinyLlavaSpec, build_processor  # noqa: E402
from lvlm_debias.embedded.tokenizer import build_tokenizer  # noqa: E402
from lvlm_debias.models.prompts import LLAVA_V1_ONE_WORD  # noqa: E402
from lvlm_debias.scoring.attention import generation_attention, prompt_attention  # noqa: E402

SHAPES, COLOURS = ["circle", "square", "triangle", "star"], ["red", "green", "blue"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--questions", type=int, default=16)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--out", default="gpu_attention.csv")
    args = parser.parse_args()
    size = "tiny" if args.tiny else "7b"
    device = torch.device("cuda" if torch.cuda.is_available() and not args.tiny else "cpu")
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    tokenizer = build_tokenizer(vocabulary_texts(SHAPES, COLOURS, [LLAVA_V1_ONE_WORD]))
    spec = TinyLlavaSpec(image_size=336, patch_size=14, vision_feature_select_strategy="default")
    processor = build_processor(spec, tokenizer)
    processor.tokenizer.padding_side = "left"
    config = llava_config(size)
    config.image_token_id = tokenizer.convert_tokens_to_ids(processor.image_token)
    config.text_config.pad_token_id = tokenizer.pad_token_id
    torch.manual_seed(0)
    start = time.perf_counter()
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = LlavaForConditionalGeneration(config).eval()
    finally:
        torch.set_default_dtype(default_dtype)
    model.set_attn_implementation("eager")
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    print(f"{size}: built on {device} in {time.perf_counter() - start:.0f} s", flush=True)

    root = Path(tempfile.mkdtemp())
    rng = np.random.default_rng(0)
    questions = []
    for i in range(args.questions):
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(root / f"{i}.png")
        obj = SHAPES[i % len(SHAPES)]
        text = f"Is there a {obj} in the image?" if i % 2 else f"Is there a {COLOURS[i % 3]} {obj} in the image?"
        questions.append({"question_id": i, "image": f"{i}.png", "text": text, "label": "no"})
    images = [Image.open(root / q["image"]).convert("RGB") for q in questions]

    rows, tables = [], {}
    for batch in args.batch:
        for part in ("prompt", "generation"):
            if device.type == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            try:
                if part == "prompt":
                    table, _, _ = prompt_attention(
                        model, processor, questions, root, template=LLAVA_V1_ONE_WORD, batch_size=batch, top=10
                    )
                    sums = table.groupby(["probe", "layer"])["share"].sum()
                    image = table.loc[(table["probe"] == "naive") & (table["group"] == "image"), "tokens"].iloc[0]
                else:
                    table, _, _ = generation_attention(
                        model,
                        processor,
                        images,
                        template=LLAVA_V1_ONE_WORD,
                        max_new_tokens=args.new_tokens,
                        batch_size=batch,
                    )
                    sums = table.groupby("step")["share"].sum()
                    image = float("nan")
            except torch.OutOfMemoryError:
                rows.append({"part": part, "batch": batch, "note": "out of memory"})
                torch.cuda.empty_cache()
                continue
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - start
            peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
            tables[(part, batch)] = table
            rows.append(
                {
                    "part": part,
                    "batch": batch,
                    "samples": len(questions),
                    "seconds": seconds,
                    "peak_gib": peak,
                    "image_tokens": image,
                    "steps": int(table["step"].max()) + 1 if part == "generation" else None,
                    "max_abs_sum_minus_1": float((sums - 1).abs().max()),
                }
            )
            print(rows[-1], flush=True)
    # batching (left padding: the prompts differ in length) must not change the shares beyond float16 rounding
    for part in ("prompt", "generation"):
        keys = [k for k in tables if k[0] == part]
        if len(keys) >= 2:
            a, b = tables[keys[0]], tables[keys[-1]]
            delta = float(np.abs(a["share"].to_numpy() - b["share"].to_numpy()).max()) if len(a) == len(b) else None
            note = f"max |share(batch {keys[0][1]}) - share(batch {keys[-1][1]})|: {delta}"
            rows.append({"part": part, "note": note})
            print(rows[-1], flush=True)
    out = pd.DataFrame(rows)
    out.insert(0, "device", torch.cuda.get_device_name() if device.type == "cuda" else "cpu")
    out.to_csv(args.out, index=False)
    print(out.to_string(index=False))


if __name__ == "__main__":
    main()
