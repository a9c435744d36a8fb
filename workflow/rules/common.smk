# Paths and input functions shared by the rules.
import re

from lvlm_debias.analysis.calibration import probes_for
from lvlm_debias.analysis.sweep import stored_temperatures
from lvlm_debias.benchmarks import benchmark
from lvlm_debias.config import model_dir as model_source
from lvlm_debias.config import trained_models
from lvlm_debias.scoring.probes import IMAGE_PROBES

MODELS = list(config["models"])
TRAINED = trained_models(config)
BENCHMARKS = config["benchmarks"]
SCORING = config.get("scoring", {})
SHARDS = SCORING.get("shards", 1)
CALIBRATION = config.get("calibration", {})
METHODS = ["naive", *CALIBRATION.get("references", ["none", "unk", "both", "noise", "zero", "one"])]
PROBES = probes_for(METHODS)
SHARD_PROBES = [p for p in PROBES if p in IMAGE_PROBES]
REFERENCE_PROBES = [p for p in PROBES if p not in IMAGE_PROBES]
TEXT_ONLY = [p for p in ("none", "unk") if p in PROBES]
SWEEP = config.get("sweep", {})
PRIOR_PROBING = config.get("prior_probing")
REPORT = config.get("report", {})
ENV = "../../envs/lvlm.yaml"


def splits_of(name):
    """The configured splits of a benchmark (POPE's are chosen in config; MME and MMMU have one)."""
    return BENCHMARKS[name].get("splits", list(benchmark(name).splits))


ALL_SPLITS = sorted({s for b in BENCHMARKS for s in splits_of(b)})
BENCHMARK_SPLITS = [f"{b}/{s}" for b in BENCHMARKS for s in splits_of(b)]
SAMPLES_FROM = BENCHMARK_SPLITS[0].split("/")
SUBSET_BENCHMARKS = [b for b in BENCHMARKS if benchmark(b).subset]


def one_of(names):
    """A wildcard pattern matching exactly ``names`` (and nothing when there are none)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


wildcard_constraints:
    model=one_of(MODELS),
    benchmark=one_of(BENCHMARKS),
    split=one_of(ALL_SPLITS),
    shard=r"\d+",


def model_dir(model):
    """Where a model's checkpoint folder is: trained here, or the configured local folder / hub repo id."""
    return model_source(config, model)


def gpus(wildcards):
    """GPUs a model job asks for: none for the embedded model (CPU), one for any other checkpoint."""
    return 0 if wildcards.model in TRAINED else 1


def model_inputs(wildcards):
    """The checkpoint folder as a job input when the workflow makes it (hub sources are loaded by id)."""
    return [model_dir(wildcards.model)] if wildcards.model in TRAINED else []


def questions_file(wildcards):
    return f"data/{BENCHMARKS[wildcards.benchmark]['dataset']}/{wildcards.benchmark}/{wildcards.split}.jsonl"


def image_root(wildcards):
    return f"data/{BENCHMARKS[wildcards.benchmark]['dataset']}"


def split_label_probs(wildcards):
    return expand(
        "results/{{model}}/{{benchmark}}/{split}/label_probs.csv", split=splits_of(wildcards.benchmark)
    )


def model_outputs(model):
    """Every table and figure of one model (the report's inputs)."""
    out = {}
    for name in BENCHMARKS:
        base = f"results/{model}/{name}"
        out[f"{name}/calibration"] = f"{base}/calibration.csv"
        out[f"{name}/calibration_by_subset"] = f"{base}/calibration_by_subset.csv"
        out[f"{name}/calibration_png"] = f"{base}/calibration.png"
        out[f"{name}/confidence_bins"] = f"{base}/confidence_bins.csv"
        out[f"{name}/confidence_bins_png"] = f"{base}/confidence_bins.png"
        for split in splits_of(name):
            out[f"{name}/{split}/label_probs_meta"] = f"{base}/{split}/label_probs.meta.json"
    if SUBSET_BENCHMARKS and TEXT_ONLY:
        out["benchmark_bias"] = f"results/{model}/benchmark_bias.csv"
        out["benchmark_bias_png"] = f"results/{model}/benchmark_bias.png"
    if SWEEP:
        out["decoding"] = f"results/{model}/decoding.csv"
        out["decoding_png"] = f"results/{model}/decoding.png"
    if PRIOR_PROBING:
        out["prior_probing"] = f"results/{model}/prior_probing.csv"
        out["prior_probing_png"] = f"results/{model}/prior_probing.png"
    if ATTENTION:
        out["attention"] = f"results/{model}/attention.csv"
        out["attention_tokens"] = f"results/{model}/attention_tokens.csv"
        out["attention_generation"] = f"results/{model}/attention_generation.csv"
        out["attention_png"] = f"results/{model}/attention.png"
        out["attention_generation_png"] = f"results/{model}/attention_generation.png"
    if REPORT.get("samples", 8):
        name, split = SAMPLES_FROM
        out["samples/label_probs"] = f"results/{model}/{name}/{split}/label_probs.csv"
        out["samples/questions"] = f"data/{BENCHMARKS[name]['dataset']}/{name}/{split}.jsonl"
    return out


def sample_settings():
    """Where the report's per-sample browser takes its questions from: the first benchmark's first split."""
    name, split = SAMPLES_FROM
    return {
        "benchmark": name,
        "split": split,
        "image_root": f"data/{BENCHMARKS[name]['dataset']}",
        "n": REPORT.get("samples", 8),
    }


def all_outputs():
    outputs = ["results/report.html"]
    for model in MODELS:
        outputs += list(model_outputs(model).values())
    return outputs


ATTENTION = config.get("attention")
#: the attention analysis reads its questions from the first POPE split (else the first benchmark's first split).
ATTENTION_FROM = next((s.split("/") for s in BENCHMARK_SPLITS if s.startswith("pope/")), SAMPLES_FROM)


def attention_questions():
    """The question file and image folder the attention analysis samples from."""
    name, split = ATTENTION_FROM
    dataset = BENCHMARKS[name]["dataset"]
    return f"data/{dataset}/{name}/{split}.jsonl", f"data/{dataset}"
