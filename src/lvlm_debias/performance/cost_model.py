"""A cost model of the paper's runs on one GPU: FLOPs per question, the memory-bandwidth bound of generation, the
batch that fits, and GPU hours per rule of the paper config, ours and the official way.

Every figure here is a model (arithmetic on published sizes and a GPU's data-sheet numbers), not a measurement;
``bench/gpu_llava.py`` measures the real figures where a GPU is available, and ``docs/performance.md`` sets the two
side by side.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from lvlm_debias.settings import schema_default

BYTES_FP16 = 2


@dataclass(frozen=True)
class Architecture:
    """The sizes that decide a model's cost (LLaVA's names: ``projector`` is whatever maps vision features to the
    ``image_tokens`` the language model reads)."""

    name: str
    llm_params: float  # language model, embeddings and LM head included
    vision_params: float  # vision tower
    projector_params: float
    layers: int
    hidden: int
    intermediate: int
    image_tokens: int = 576  # tokens the projector puts in place of the image placeholder
    vision_tokens: int = 577  # patches + CLS through the vision tower

    @property
    def params(self) -> float:
        return self.llm_params + self.vision_params + self.projector_params


@dataclass(frozen=True)
class Gpu:
    """Data-sheet figures: dense fp16/bf16 tensor FLOP/s, memory bandwidth, memory."""

    name: str
    tflops: float
    bandwidth_tb_s: float
    memory_gib: float


#: llava-hf/llava-1.5-{7b,13b}-hf: Vicuna-1.5 (Llama-2) + CLIP ViT-L/14 at 336 px + a 2-layer MLP projector
LLAVA_15 = {
    "7b": Architecture("llava-1.5-7b", 6.74e9, 0.303e9, 21.0e6, 32, 4096, 11008),
    "13b": Architecture("llava-1.5-13b", 13.0e9, 0.303e9, 31.5e6, 40, 5120, 13824),
}
#: Salesforce/instructblip-vicuna-7b: Vicuna-7B + EVA ViT-g/14 at 224 px (about 1.0e9 parameters, 257 tokens) + a
#: Q-Former (about 188e6 parameters, counted as the projector) whose 32 query outputs are the image tokens
#: (the BLIP-2 and InstructBLIP papers' sizes, rounded)
INSTRUCTBLIP_7B = Architecture(
    "instructblip-vicuna-7b", 6.74e9, 1.0e9, 188e6, 32, 4096, 11008, image_tokens=32, vision_tokens=257
)
#: the paper config's models, by the short name `bench/cost_model.py --official-call-seconds` takes
PAPER_MODELS = {**LLAVA_15, "instructblip": INSTRUCTBLIP_7B}
H100_SXM = Gpu("H100 SXM 80GB", 989.0, 3.35, 80.0)
H200 = Gpu("H200 141GB", 989.0, 4.8, 141.0)


def prefill_flops(arch: Architecture, text_tokens: int, image: bool = True) -> float:
    """FLOPs of one forward pass over a prompt, first position only:
    ``2·N_llm·T + 4·L·T²·d`` (weights, then attention scores and mixing over ``T`` tokens), plus, with the image,
    ``2·N_vision·V + 2·N_proj·I`` (vision tower over its ``V`` tokens, projector over the ``I`` image tokens: 577
    and 576 for LLaVA-1.5); ``T = text_tokens (+ I)``."""
    tokens = text_tokens + (arch.image_tokens if image else 0)
    flops = 2 * arch.llm_params * tokens + 4 * arch.layers * tokens**2 * arch.hidden
    if image:
        flops += 2 * arch.vision_params * arch.vision_tokens + 2 * arch.projector_params * arch.image_tokens
    return flops


def suffix_flops(arch: Architecture, prefix_tokens: int, suffix_tokens: int) -> float:
    """FLOPs of a question suffix of ``S`` tokens after a cached prefix of ``P`` tokens, first position only:
    ``2·N_llm·S + 4·L·S·(P + S)·d`` (the suffix's weights, its attention to the prefix and to itself)."""
    return (
        2 * arch.llm_params * suffix_tokens
        + 4 * arch.layers * suffix_tokens * (prefix_tokens + suffix_tokens) * arch.hidden
    )


def image_probe_flops(
    arch: Architecture,
    *,
    images: int,
    questions: int,
    distinct_pairs: int,
    prefix_text: int,
    suffix_tokens: int,
) -> dict[str, float]:
    """Prefill FLOPs of one image probe over a benchmark source, three ways: every question's whole prompt (today's
    batched path before the cache), each distinct (image, question) pair's whole prompt, and the logit cache (one
    prefix of ``prefix_text`` text tokens + the image tokens per image, one suffix of ``suffix_tokens`` per distinct
    pair)."""
    whole = prefill_flops(arch, prefix_text + suffix_tokens)
    prefix = prefill_flops(arch, prefix_text)
    suffix = suffix_flops(arch, prefix_text + arch.image_tokens, suffix_tokens)
    return {
        "per_question": questions * whole,
        "per_distinct_pair": distinct_pairs * whole,
        "logit_cache": images * prefix + distinct_pairs * suffix,
    }


def kv_bytes_per_token(arch: Architecture) -> float:
    """KV-cache bytes per token in fp16: ``2 (K and V) · L · d · 2 bytes``."""
    return 2 * arch.layers * arch.hidden * BYTES_FP16


def decode_step_seconds(arch: Architecture, gpu: Gpu, rows: int, context: int) -> float:
    """Lower bound on one generation step of ``rows`` sequences of ``context`` tokens: every weight and every row's
    KV cache read once, ``(2·N + rows·context·kv) / bandwidth`` (memory-bound; compute is far below it)."""
    return (arch.params * BYTES_FP16 + rows * context * kv_bytes_per_token(arch)) / (gpu.bandwidth_tb_s * 1e12)


def scoring_questions_per_s(arch: Architecture, gpu: Gpu, text_tokens: int, mfu: float) -> float:
    """Questions/s of batched first-position scoring at a model-FLOPs utilisation ``mfu`` (0-1]."""
    if not 0 < mfu <= 1:
        raise ValueError(f"mfu must lie in (0, 1], got {mfu!r}")
    return gpu.tflops * 1e12 * mfu / prefill_flops(arch, text_tokens)


def activation_bytes_per_row(arch: Architecture, tokens: int) -> float:
    """Transient memory per batch row of a no-cache forward pass: the MLP's gate and up projections and a few
    hidden states of one layer at a time, ``T·(2·d_ff + 4·d)·2 bytes``."""
    return tokens * (2 * arch.intermediate + 4 * arch.hidden) * BYTES_FP16


def batch_that_fits(arch: Architecture, gpu: Gpu, tokens: int, reserve_gib: float = 4.0) -> int:
    """Largest scoring batch whose activations fit beside the fp16 weights and ``reserve_gib`` for the runtime."""
    free = gpu.memory_gib * 2**30 - arch.params * BYTES_FP16 - reserve_gib * 2**30
    return max(0, int(free // activation_bytes_per_row(arch, tokens)))


#: sizes of the paper's benchmarks: POPE 3 sources x 3 splits x 3000, MME 2374, MMMU validation 900
#: config/modern.yaml's models, with the image-token counts the families fix (sizes from the model cards, rounded,
#: not checked against the weights here): Qwen2.5-VL-7B (Qwen2.5-7B + a 675e6 ViT; min/max pixels pinned to 448²:
#: 1024 patches merged 2 x 2 into 256 tokens); LLaVA-OneVision-7B (Qwen2-7B + SigLIP-so400m; anyres_max_9 on a
#: 640 x 480 COCO image: base view + 2 x 2 tiles of 729 patches, 2929 tokens after unpadding); SmolVLM-256M (SmolLM2-
#: 135M + SigLIP-B/16 at 512 px, pixel shuffle by 4: 1024 patches into 64 tokens; splitting off)
MODERN_MODELS = {
    "qwen2.5-vl-7b": Architecture(
        "qwen2.5-vl-7b", 7.6e9, 0.675e9, 45e6, 28, 3584, 18944, image_tokens=256, vision_tokens=1024
    ),
    "llava-onevision-7b": Architecture(
        "llava-onevision-7b", 7.6e9, 0.40e9, 17e6, 28, 3584, 18944, image_tokens=2929, vision_tokens=3645
    ),
    "smolvlm-256m": Architecture(
        "smolvlm-256m", 0.135e9, 0.093e9, 7e6, 30, 576, 1536, image_tokens=64, vision_tokens=1024
    ),
}
#: which of them cannot share an image prefix across questions (their scoring runs whole prompts)
NO_PREFIX = {"qwen2.5-vl-7b", "instructblip-vicuna-7b"}
PAPER_QUESTIONS = {"pope": 27000, "mme": 2374, "mmmu": 900}
#: (images, distinct pairs) of each: POPE 500 images and about 5170 distinct pairs per source, MME two questions per
#: image, MMMU one
PAPER_SOURCES = {"pope": (1500, 15510), "mme": (1187, 2374), "mmmu": (900, 900)}


def paper_gpu_hours(
    arch: Architecture,
    gpu: Gpu,
    *,
    distinct_prompts: int,
    captions: int,
    caption_tokens: int,
    text_tokens: int = 60,
    mfu: float = 0.5,
    batch: int = 32,
    official_call_seconds: tuple[float, float] | None = None,
    shares_prefix: bool = True,
    beams: int = schema_default("generation.opera.beams"),
) -> pd.DataFrame:
    """GPU hours per rule of the paper config, ours and the official way, from the model above.

    Ours: the image probes (Naive, Noise) through the logit cache (one prefix pass per image, one suffix per distinct
    (image, question) pair, :data:`PAPER_SOURCES`) as batched forward passes at ``mfu``; the four references
    (None, Unk without image tokens; Zero, One with them) once per distinct prompt; ``captions`` generated sequences
    of ``caption_tokens`` tokens for Naive, VCD, VDD-None, VDD-Unk and VDD-Both (2 branches each on average), at the
    bandwidth bound with ``batch`` sequences. The official way: one ``generate`` call per question and probe, four
    with the image tokens (Naive, Noise, Zero, One) and two without (None, Unk), ``official_call_seconds`` = (with,
    without) when measured, else the FLOP model at a quarter of ``mfu`` (batch 1); generation one sequence at a time.
    A model that cannot share its image prefix (``shares_prefix`` False: Qwen2.5-VL's M-RoPE, InstructBLIP's
    Q-Former) runs each distinct pair's whole prompt instead. OPERA's captions (``opera_generation``): per token two
    passes (the beams' token, then all their candidates side by side) of ``batch`` rows holding ``batch / beams``
    captions; the official way, one caption at a time, ``1 + beams`` passes of ``beams`` rows (its candidates one
    by one, as many as its beams by default).
    """
    questions = sum(PAPER_QUESTIONS.values())
    with_image, without = prefill_flops(arch, text_tokens), prefill_flops(arch, text_tokens, image=False)
    rate = gpu.tflops * 1e12 * mfu
    context = arch.image_tokens + text_tokens + caption_tokens // 2
    branches = 2.0
    generation = captions * caption_tokens * branches
    # the logit cache: one prefix pass per image, one suffix per distinct pair (prompt text split 60 % / 40 %
    # around the image, as LLaVA-1.5's paper prompt is)
    prefix_text = int(0.6 * text_tokens)
    cached = sum(
        images * prefill_flops(arch, prefix_text)
        + pairs * suffix_flops(arch, prefix_text + arch.image_tokens, text_tokens - prefix_text)
        if shares_prefix
        else pairs * with_image
        for images, pairs in PAPER_SOURCES.values()
    )
    ours = {
        "first_token_shard": 2 * cached / rate,
        "reference_probs": 2 * distinct_prompts * (with_image + without) / rate,
        "vdd_generation": generation
        / (batch * branches)
        * decode_step_seconds(arch, gpu, int(batch * branches), context),
        "opera_generation": captions
        * caption_tokens
        * 2
        * decode_step_seconds(arch, gpu, batch, context)
        / max(1, batch // beams),
    }
    if official_call_seconds is None:
        official_call_seconds = (with_image / (rate / 4), without / (rate / 4))
    image_call, text_call = official_call_seconds
    official = {
        "first_token_shard": questions * 2 * image_call,
        "reference_probs": questions * (2 * image_call + 2 * text_call),
        "vdd_generation": generation * decode_step_seconds(arch, gpu, 1, context),
        "opera_generation": captions * caption_tokens * (1 + beams) * decode_step_seconds(arch, gpu, beams, context),
    }
    return pd.DataFrame(
        {
            "rule": list(ours),
            "ours_gpu_hours": [v / 3600 for v in ours.values()],
            "official_gpu_hours": [v / 3600 for v in official.values()],
        }
    )
