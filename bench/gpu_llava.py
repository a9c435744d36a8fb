"""GPU throughput of the LLaVA-1.5-7B/13B architecture (random weights: speed does not depend on their values).

No hub access is needed: the model is built from its published sizes (llava-hf/llava-1.5-{7b,13b}-hf config) with
random fp16 weights. Measures, on one GPU, for POPE-shaped inputs (576 image tokens + the llava-1.5 prompt):
- our scoring: batched first-position forward passes (``logits_to_keep=1``), questions/s and peak memory per batch
  size;
- the official way: per question, ``generate`` with scores and attentions (eager attention), for Naive, None and
  Unk, two new tokens each ("Yes" and end of sequence), questions/s;
- two-branch generation as VDD needs it (the image branch and a None branch, each with its own KV cache), as two
  ``generate`` runs of ``--new-tokens`` tokens, tokens/s per branch pair;
- VDD itself: ``generate`` with ``lvlm_debias.decoding.processors.ContrastLogitsProcessor`` and one reference branch
  (None) or two (None and Unk: VDD-Both), each advancing its own KV cache, tokens/s (run with ``PYTHONPATH=src``).
Writes one CSV per model (``--out``) and prints it. ``--tiny`` runs the same code on a small model on the CPU.
"""

import argparse
import time
from pathlib import Path

import pandas as pd
import torch
from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

SIZES = {  # the text model sizes of llava-1.5 (Vicuna-1.5); the vision tower is CLIP ViT-L/14-336 for both
    "7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32),
    "13b": dict(hidden_size=5120, intermediate_size=13824, num_hidden_layers=40, num_attention_heads=40),
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4),
}
IMAGE_TOKEN = 32000
#: text tokens of "USER: <image>\nIs there a ... in the image? Please answer this question with one word. ASSISTANT:"
PROMPT_TOKENS = 60


def llava_config(size: str) -> LlavaConfig:
    tiny = size == "tiny"
    vision = CLIPVisionConfig(
        hidden_size=32 if tiny else 1024,
        intermediate_size=64 if tiny else 4096,
        num_hidden_layers=2 if tiny else 24,
        num_attention_heads=4 if tiny else 16,
        image_size=336,
        patch_size=14,
        projection_dim=768,
    )
    text = LlamaConfig(vocab_size=32064, max_position_embeddings=4096, rms_norm_eps=1e-5, **SIZES[size])
    return LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=IMAGE_TOKEN,
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        projector_hidden_act="gelu",
    )


def inputs(batch: int, with_image: bool, device: torch.device, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """POPE-shaped inputs: 576 image tokens (none for the None branch) and ``PROMPT_TOKENS`` text tokens."""
    g = torch.Generator().manual_seed(0)
    text = torch.randint(100, 31000, (batch, PROMPT_TOKENS), generator=g)
    if with_image:
        ids = torch.cat([text[:, :5], torch.full((batch, 576), IMAGE_TOKEN), text[:, 5:]], dim=1)
    else:
        ids = text
    out = {"input_ids": ids.to(device), "attention_mask": torch.ones_like(ids).to(device)}
    if with_image:
        out["pixel_values"] = torch.randn(batch, 3, 336, 336, generator=g).to(device, dtype)
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def clock(fn, device: torch.device, repeat: int) -> float:
    """Mean seconds of ``fn()`` after one warm-up call."""
    fn()
    sync(device)
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    sync(device)
    return (time.perf_counter() - start) / repeat


@torch.inference_mode()
def measure(size: str, batches: list[int], official_questions: int, new_tokens: int, gen_batch: int) -> pd.DataFrame:
    device = torch.device("cuda" if torch.cuda.is_available() and size != "tiny" else "cpu")
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    torch.manual_seed(0)
    start = time.perf_counter()
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # build in the target dtype: a 13B model in float32 first would need 52 GB
    try:
        with torch.device(device):
            model = LlavaForConditionalGeneration(llava_config(size)).eval()
    finally:
        torch.set_default_dtype(default_dtype)
    params = sum(p.numel() for p in model.parameters())
    built = time.perf_counter() - start
    print(f"{size}: {params / 1e9:.2f} B parameters built on {device} in {built:.0f} s", flush=True)
    rows = []
    for batch in batches:
        x = inputs(batch, True, device, dtype)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        try:
            seconds = clock(lambda x=x: model(**x, use_cache=False, logits_to_keep=1), device, 3)
        except torch.OutOfMemoryError:
            rows.append({"what": "ours: batched first-position scoring", "batch": batch, "note": "out of memory"})
            torch.cuda.empty_cache()
            break
        peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
        rows.append(
            {
                "what": "ours: batched first-position scoring",
                "batch": batch,
                "seconds": seconds,
                "questions_per_s": batch / seconds,
                "peak_gib": peak,
            }
        )
        print(rows[-1], flush=True)

    model.set_attn_implementation("eager")
    per_probe = {}
    # Unk puts one <unk> token where the image was: one token longer than None, timed as None
    for probe, with_image in (("naive", True), ("none", False), ("unk", False)):
        x = inputs(1, with_image, device, dtype)

        def call(x=x):
            return model.generate(
                **x,
                do_sample=False,
                max_new_tokens=2,
                min_new_tokens=2,
                output_scores=True,
                output_attentions=True,
                return_dict_in_generate=True,
                pad_token_id=0,
            )

        per_probe[probe] = clock(call, device, official_questions)
    official = sum(per_probe.values())
    rows.append(
        {
            "what": "official: per-question generate (naive + none + unk, eager, attentions)",
            "batch": 1,
            "seconds": official,
            "questions_per_s": 1 / official,
            "note": ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in per_probe.items()),
        }
    )
    print(rows[-1], flush=True)
    model.set_attn_implementation("sdpa")

    branch = {}
    for name, with_image in (("image", True), ("none", False)):
        x = inputs(gen_batch, with_image, device, dtype)

        def run(x=x):
            return model.generate(
                **x, do_sample=False, max_new_tokens=new_tokens, min_new_tokens=new_tokens, pad_token_id=0
            )

        branch[name] = clock(run, device, 1)
    rows.append(
        {
            "what": f"two-branch generation (image + None), {new_tokens} new tokens",
            "batch": gen_batch,
            "seconds": sum(branch.values()),
            "tokens_per_s": gen_batch * new_tokens / sum(branch.values()),
            "note": ", ".join(f"{k} branch {v:.2f} s" for k, v in branch.items()),
        }
    )
    print(rows[-1], flush=True)

    from lvlm_debias.decoding.processors import ContrastLogitsProcessor, ReferenceBranch

    image = inputs(gen_batch, True, device, dtype)
    text = inputs(gen_batch, False, device, dtype)
    unk = {  # one <unk> (id 0) where the image tokens were
        "input_ids": torch.cat([text["input_ids"][:, :5], torch.zeros_like(text["input_ids"][:, :1]),
                                text["input_ids"][:, 5:]], dim=1),
        "attention_mask": torch.ones(gen_batch, PROMPT_TOKENS + 1, dtype=torch.long, device=device),
    }  # fmt: skip
    for name, references in (("VDD-None", [text]), ("VDD-Both", [text, unk])):

        def vdd(references=references):
            branches = [ReferenceBranch(model, dict(r)) for r in references]
            return model.generate(
                **image,
                do_sample=False,
                max_new_tokens=new_tokens,
                min_new_tokens=new_tokens,
                pad_token_id=0,
                logits_processor=[ContrastLogitsProcessor(branches, alpha=1.0, beta=0.1)],
            )

        seconds = clock(vdd, device, 1)
        rows.append(
            {
                "what": f"{name}: generate + contrast processor ({len(references)} reference branch(es)), "
                f"{new_tokens} new tokens",
                "batch": gen_batch,
                "seconds": seconds,
                "tokens_per_s": gen_batch * new_tokens / seconds,
            }
        )
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    table.insert(0, "model", f"llava-1.5-{size} (random weights)")
    table.insert(1, "device", torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu")
    table.insert(2, "dtype", str(dtype).removeprefix("torch."))
    return table


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["7b", "13b"], choices=list(SIZES))
    parser.add_argument("--tiny", action="store_true", help="a small model on the CPU (checks the script)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--official-questions", type=int, default=20, help="questions timed the official way")
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--gen-batch", type=int, default=32)
    parser.add_argument("--out", default="results/bench")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for size in ["tiny"] if args.tiny else args.sizes:
        table = measure(size, args.batches, args.official_questions, args.new_tokens, args.gen_batch)
        table.to_csv(out / f"gpu_llava_{size}.csv", index=False)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        print(table.to_string(index=False))
