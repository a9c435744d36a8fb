"""The GPU cost model of docs/performance.md: per model of the paper config (LLaVA-1.5 7B / 13B, InstructBLIP) and
GPU, FLOPs per POPE question, modelled scoring questions/s, the scoring batch that fits, the generation step bound
and VDD tokens/s; then the paper config's GPU hours per rule, ours and the official way. A model, not a measurement
(bench/gpu_llava.py measures)."""

import argparse

import pandas as pd

from lvlm_debias.performance.cost_model import (
    H100_SXM,
    H200,
    MODERN_MODELS,
    NO_PREFIX,
    PAPER_MODELS,
    batch_that_fits,
    decode_step_seconds,
    paper_gpu_hours,
    prefill_flops,
    scoring_questions_per_s,
)

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--text-tokens", type=int, default=60, help="prompt tokens besides the image tokens")
parser.add_argument("--mfu", type=float, default=0.5, help="model-FLOPs utilisation of batched scoring")
parser.add_argument("--batch", type=int, default=32, help="sequences generated at once (each VDD branch a row)")
parser.add_argument("--distinct-prompts", type=int, default=4000, help="distinct prompts over all benchmarks")
parser.add_argument("--captions", type=int, default=5000, help="generated sequences (images x methods x settings)")
parser.add_argument("--caption-tokens", type=int, default=100)
parser.add_argument(
    "--official-call-seconds",
    nargs=3,
    action="append",
    default=[],
    metavar=("SIZE", "WITH_IMAGE", "WITHOUT"),
    help="measured seconds of one official generate call with and without image tokens, e.g. 7b 0.061 0.049",
)
parser.add_argument(
    "--config", choices=["paper", "modern"], default="paper",
    help="the models of config/paper.yaml (LLaVA-1.5, InstructBLIP) or config/modern.yaml (Qwen2.5-VL, ...)",
)  # fmt: skip
args = parser.parse_args()
MODELS = PAPER_MODELS if args.config == "paper" else MODERN_MODELS
measured = {size: (float(a), float(b)) for size, a, b in args.official_call_seconds}
unknown = sorted(set(measured) - set(MODELS))
if unknown:
    parser.error(f"--official-call-seconds: unknown sizes {unknown}; known: {list(MODELS)}")

rows = []
for arch in MODELS.values():
    tokens = arch.image_tokens + args.text_tokens
    for gpu in (H100_SXM, H200):
        step1 = decode_step_seconds(arch, gpu, 1, tokens + 50)
        step64 = decode_step_seconds(arch, gpu, 2 * args.batch, tokens + 50)
        rows.append(
            {
                "model": arch.name,
                "gpu": gpu.name,
                "tflop_per_question": prefill_flops(arch, args.text_tokens) / 1e12,
                "scoring_q_per_s": scoring_questions_per_s(arch, gpu, args.text_tokens, args.mfu),
                "batch_that_fits": batch_that_fits(arch, gpu, tokens),
                "step_ms_batch1": step1 * 1e3,
                "tokens_per_s_batch1": 1 / step1,
                f"vdd_tokens_per_s_batch{args.batch}": args.batch / step64,
            }
        )
print(f"== per question and step (model; MFU {args.mfu}, {args.text_tokens} text tokens)")
print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
for size, arch in MODELS.items():
    table = paper_gpu_hours(
        arch,
        H100_SXM,
        distinct_prompts=args.distinct_prompts,
        captions=args.captions,
        caption_tokens=args.caption_tokens,
        text_tokens=args.text_tokens,
        mfu=args.mfu,
        batch=args.batch,
        official_call_seconds=measured.get(size),
        shares_prefix=arch.name not in NO_PREFIX,
    )
    total = table[["ours_gpu_hours", "official_gpu_hours"]].sum()
    table.loc[len(table)] = ["total", total.iloc[0], total.iloc[1]]
    official = "measured official calls" if size in measured else "modelled official calls"
    print(f"\n== {args.config} config on one {H100_SXM.name}: {arch.name} (model; {official})")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
