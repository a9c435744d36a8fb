# Paths and input functions shared by the rules.
import re

from lvlm_debias.analysis.calibration import probes_for
from lvlm_debias.analysis.sweep import stored_temperatures
from lvlm_debias.benchmarks import benchmark
from lvlm_debias.config import model_dir as model_source
from lvlm_debias.config import trained_models
from lvlm_debias.config import datasets, hub_datasets, hub_models, url_datasets
from lvlm_debias.data.convert import DEFAULT_SPLITS
from lvlm_debias.scoring.official import OfficialSettings, has_official_reading
from lvlm_debias.inputs.probes import IMAGE_PROBES

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
#: the official code's reading beside ours (scoring.readings): its settings, and the benchmarks that have one
OFFICIAL = OfficialSettings.from_dict(SCORING["official"]) if "official" in SCORING["readings"] else None
OFFICIAL_BENCHMARKS = [b for b in BENCHMARKS if OFFICIAL and has_official_reading(benchmark(b).family)]
#: the first-token contrast grid (VDD at every alpha x beta, from the logit cache), when configured
CONTRAST_GRID = config.get("contrast_grid")
#: whether scoring stores the logit cache (scoring.store), which the official reading and the grid are derived from
LOGITS = bool(OFFICIAL or CONTRAST_GRID)
#: the temperatures whose log-normalisers scoring stores: the sweep's, the official reading's and the grid's
TEMPERATURES = sorted(
    {
        *stored_temperatures(SWEEP),
        *([OFFICIAL.temperature] if OFFICIAL else []),
        *([CONTRAST_GRID["temperature"]] if CONTRAST_GRID else []),
    }
)
PRIOR_PROBING = config.get("prior_probing")
REPORT = config.get("report", {})
GENERATION = config.get("generation", {})
GENERATION_SETTINGS = GENERATION.get("settings", ["default", "best"]) if GENERATION else []
DECODING = {key: GENERATION.get(key, default) for key, default in (("methods", []), ("alpha", 1.0), ("beta", 0.1))}
CAPTIONS = GENERATION.get("captions") or {}
CLASSIFICATION = GENERATION.get("classification") or {}
OPEN_ENDED = GENERATION.get("open_ended") or {}
ENV = f"../../{config.get('conda_env', 'envs/lvlm.yaml')}"
HUB_MODELS = hub_models(config)
DATASETS = datasets(config)
HUB_DATASETS = list(hub_datasets(config))
URL_DATASETS = list(url_datasets(config))
DOWNLOADS = config.get("downloads", {})


def splits_of(name):
    """The configured splits of a benchmark (POPE's are chosen in config; MME and MMMU have one)."""
    return BENCHMARKS[name].get("splits", list(benchmark(name).splits))


ALL_SPLITS = sorted({s for b in BENCHMARKS for s in splits_of(b)})
BENCHMARK_SPLITS = [f"{b}/{s}" for b in BENCHMARKS for s in splits_of(b)]
SAMPLES_FROM = BENCHMARK_SPLITS[0].split("/")
SUBSET_BENCHMARKS = [b for b in BENCHMARKS if benchmark(b).subset]
CONTRASTIVE_SPLITS = [f"{b}/{s}" for b in CLASSIFICATION.get("benchmarks", []) for s in splits_of(b)]


def one_of(names):
    """A wildcard pattern matching exactly ``names`` (and nothing when there are none)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


wildcard_constraints:
    model=one_of(MODELS),
    benchmark=one_of(BENCHMARKS),
    split=one_of(ALL_SPLITS),
    shard=r"\d+",
    setting=one_of(GENERATION_SETTINGS),


def model_dir(model):
    """Where a model's checkpoint folder is: trained here, or the configured local folder / hub repo id."""
    return model_source(config, model)


def runs_embedded(wildcards):
    """Whether a model job runs an embedded model (on the CPU): a trained entry of `models`, or the study's (its jobs,
    without a `model` wildcard, train and score the study's entry)."""
    return getattr(wildcards, "model", STUDY.get("model")) in TRAINED


def gpus(wildcards):
    """GPUs a model job asks for: none for the embedded model (CPU), one for any other checkpoint."""
    return 0 if runs_embedded(wildcards) else 1


def model_inputs(wildcards):
    """The checkpoint as a job input when the workflow makes it: the trained folder, or the download manifest of a
    `source: hub` model (loaded by repo id from the HF cache). Other hub ids and local folders are loaded as they are."""
    if wildcards.model in HUB_MODELS:
        return [f"data/models/{wildcards.model}/manifest.json"]
    return [model_dir(wildcards.model)] if wildcards.model in TRAINED else []


def questions_file(wildcards):
    return f"data/{BENCHMARKS[wildcards.benchmark]['dataset']}/{wildcards.benchmark}/{wildcards.split}.jsonl"


def source_questions(wildcards):
    """The question files of every split of a benchmark, in split order: the source the logit cache is built over."""
    name = wildcards.benchmark
    return [f"data/{BENCHMARKS[name]['dataset']}/{name}/{split}.jsonl" for split in splits_of(name)]


def image_root(wildcards):
    return f"data/{BENCHMARKS[wildcards.benchmark]['dataset']}"


def questions_root(wildcards, input):
    """The dataset folder a job's question file (data/<dataset>/<benchmark>/<split>.jsonl) and its images are in."""
    return str(Path(input.questions).parent.parent)


def parser_of(wildcards):
    """The parser of the benchmark's generated answers: its `parser` (the schema holds the defaults: vcd for POPE, mme
    for MME); MMMU has none to choose (its option-letter parser)."""
    return BENCHMARKS[wildcards.benchmark].get("parser")


def decoding_summary_input(wildcards):
    """The decoding sweep's summary, which the "best" generation setting reads its configuration from."""
    return [f"results/{wildcards.model}/decoding.csv"] if wildcards.setting == "best" else []


def split_label_probs(wildcards):
    return expand(
        "results/{{model}}/{{benchmark}}/{split}/label_probs.csv", split=splits_of(wildcards.benchmark)
    )


def split_logits(wildcards):
    """The logit cache of every split of a benchmark."""
    return expand("results/{{model}}/{{benchmark}}/{split}/logits.npz", split=splits_of(wildcards.benchmark))


#: the shards' and the gathered split's logit cache, declared only when something is derived from it
SHARD_LOGITS = {"logits": "results/{model}/{benchmark}/shards/{shard}.logits.npz"} if LOGITS else {}
SPLIT_LOGITS = {"logits": "results/{model}/{benchmark}/{split}/logits.npz"} if LOGITS else {}


def model_outputs(model):
    """Every table and figure of one model (the report's inputs), and the per-question tables the report's paper
    checks resample (label probabilities, sweep distributions, answers by generation, per-caption CHAIR, per-question
    attention)."""
    out = {}
    for name in BENCHMARKS:
        base = f"results/{model}/{name}"
        out[f"{name}/calibration"] = f"{base}/calibration.csv"
        out[f"{name}/calibration_by_subset"] = f"{base}/calibration_by_subset.csv"
        out[f"{name}/calibration_png"] = f"{base}/calibration.png"
        out[f"{name}/confidence_bins"] = f"{base}/confidence_bins.csv"
        out[f"{name}/confidence_bins_png"] = f"{base}/confidence_bins.png"
        if name in OFFICIAL_BENCHMARKS:
            out[f"{name}/readings"] = f"{base}/readings.csv"
        if CONTRAST_GRID:
            out[f"{name}/contrast_grid"] = f"{base}/contrast_grid.csv"
            out[f"{name}/contrast_grid_png"] = f"{base}/contrast_grid.png"
        for split in splits_of(name):
            out[f"{name}/{split}/label_probs_meta"] = f"{base}/{split}/label_probs.meta.json"
            # per question, for the report's bootstrap intervals (lvlm_debias.report.checks)
            out[f"{name}/{split}/label_probs"] = f"{base}/{split}/label_probs.csv"
            if SWEEP:
                out[f"{name}/{split}/sweep_questions"] = f"{base}/{split}/sweep_questions.csv"
    if SUBSET_BENCHMARKS and TEXT_ONLY:
        out["benchmark_bias"] = f"results/{model}/benchmark_bias.csv"
        out["benchmark_bias_png"] = f"results/{model}/benchmark_bias.png"
    if SWEEP:
        out["decoding"] = f"results/{model}/decoding.csv"
        out["decoding_png"] = f"results/{model}/decoding.png"
    if PRIOR_PROBING:
        out["prior_probing"] = f"results/{model}/prior_probing.csv"
        out["prior_probing_png"] = f"results/{model}/prior_probing.png"
    if CAPTIONS:
        out["chair"] = f"results/{model}/chair.csv"
        out["chair_png"] = f"results/{model}/chair.png"
        out["chair_samples"] = f"results/{model}/chair_samples.json"
        out["chair_captions"] = f"results/{model}/chair_captions.csv"
    if OPEN_ENDED:
        out["open_ended"] = f"results/{model}/open_ended.csv"
        out["open_ended_samples"] = f"results/{model}/open_ended_samples.json"
    if CONTRASTIVE_SPLITS:
        out["contrastive"] = f"results/{model}/contrastive.csv"
        out["contrastive_png"] = f"results/{model}/contrastive.png"
        for key in CONTRASTIVE_SPLITS:
            for setting in GENERATION_SETTINGS:
                out[f"contrastive/{key}/{setting}"] = f"results/{model}/{key}/contrastive/{setting}.csv"
    if ATTENTION:
        out["attention"] = f"results/{model}/attention.csv"
        out["attention_tokens"] = f"results/{model}/attention_tokens.csv"
        out["attention_questions"] = f"results/{model}/attention_questions.csv"
        out["attention_generation_samples"] = f"results/{model}/attention_generation_samples.csv"
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


# Downloads (workflow/rules/download.smk)
DOWNLOAD_RESOURCES = {"mem_mb": 8000, "runtime": 240, "download": 1}  # profiles/slurm caps `download`
if DOWNLOADS.get("partition"):
    DOWNLOAD_RESOURCES["slurm_partition"] = DOWNLOADS["partition"]


def dataset_splits(name):
    """Splits made of a dataset that no benchmark uses (e.g. LLaVA-Bench for generation): its `splits` or the
    format's default."""
    entry = DATASETS[name]
    return entry.get("splits", list(DEFAULT_SPLITS[entry["format"]]))


DATASET_ONLY = [name for name in DATASETS if name not in {s["dataset"] for s in BENCHMARKS.values()}]
#: what the question rules (hub_questions, url_questions) may be asked for: a configured benchmark, or the format of
#: a dataset no benchmark uses; and any split of either
QUESTION_BENCHMARKS = [*BENCHMARKS, *{DATASETS[d]["format"] for d in DATASET_ONLY}]
QUESTION_SPLITS = sorted({*ALL_SPLITS, *(s for d in DATASET_ONLY for s in dataset_splits(d))})


def url_splits(name):
    """The splits whose question files the url_dataset job of dataset ``name`` fetches: those of the benchmarks using
    it, with the dataset's own (its `splits`, or all of its format's) when no benchmark does."""
    used = [s for b, settings in BENCHMARKS.items() if settings["dataset"] == name for s in splits_of(b)]
    return sorted(set(used)) if used else dataset_splits(name)


def open_questions():
    """The question file of the open-ended generation (generation.open_ended.dataset): its first split, converted by
    the dataset's question rule."""
    name = OPEN_ENDED["dataset"]
    return f"data/{name}/{DATASETS[name]['format']}/{dataset_splits(name)[0]}.jsonl"


def dataset_outputs():
    """Question files of the datasets no benchmark uses: data/<dataset>/<format>/<split>.jsonl."""
    return [
        f"data/{name}/{DATASETS[name]['format']}/{split}.jsonl" for name in DATASET_ONLY for split in dataset_splits(name)
    ]


def model_mem_mb(wildcards, attempt):
    """Host memory (MB, sbatch --mem) of a job that loads a model: 4000 for the embedded model, 40000 for a checkpoint
    (LLaVA-1.5-13B's float16 weights alone are 26 GB), times the attempt, so a retry after an out-of-memory kill
    asks for more."""
    return (4000 if runs_embedded(wildcards) else 40000) * attempt


def job_cpus(wildcards, threads):
    """CPUs of a cluster job (sbatch --cpus-per-task): its threads, so that torch's threads get their own cores."""
    return threads


#: every job that loads a model (scoring, generation, the sweep, prior probing, attention, the study's training and
#: scoring) takes `threads: MODEL_THREADS` (its script gives them to torch; the study's jobs `study.threads`) and
#: `resources: **MODEL_RESOURCES` with its own `runtime`: host memory by model and attempt, a GPU for a checkpoint,
#: and one CPU per thread
MODEL_THREADS = 2
MODEL_RESOURCES = {"mem_mb": model_mem_mb, "gpu": gpus, "cpus_per_task": job_cpus}

ATTENTION = config.get("attention")


def family_of(key):
    """The benchmark family (pope, mme, mmmu) of a "benchmark/split" key."""
    return benchmark(key.split("/")[0]).family


POPE_SPLITS_CONFIGURED = [key for key in BENCHMARK_SPLITS if family_of(key) == "pope"]
#: the attention analysis reads its questions from the first POPE split (else the first benchmark's first split).
ATTENTION_FROM = POPE_SPLITS_CONFIGURED[0].split("/") if POPE_SPLITS_CONFIGURED else SAMPLES_FROM


def attention_questions():
    """The question file the attention analysis samples from (its images are in the dataset's folder)."""
    name, split = ATTENTION_FROM
    return f"data/{BENCHMARKS[name]['dataset']}/{name}/{split}.jsonl"


# The controlled study (workflow/rules/study.smk, included only with a `study:` section).
STUDY = config.get("study") or {}
STUDY_ENTRY = config["models"][STUDY["model"]] if STUDY else {}
STUDY_RATES = [f"{r:g}" for r in STUDY.get("yes_rates", [])]
STUDY_SEEDS = [str(s) for s in STUDY.get("seeds", [])]
STUDY_LEVELS = list(STUDY.get("levels", {}))
STUDY_METHODS = STUDY.get("methods", [])



def study_entry(wildcards):
    """The study's model entry with the prior's yes_rate of the job."""
    return {**STUDY_ENTRY, "prior": {**STUDY_ENTRY.get("prior", {}), "yes_rate": float(wildcards.yes_rate)}}


def study_level_folders():
    """Evidence level -> the folder of its evaluation images and questions (rule study_level)."""
    return {level: f"data/study/levels/{level}" for level in STUDY_LEVELS}


def study_models():
    """"<yes_rate>/<seed>" -> the study model's checkpoint folder (rule study_model)."""
    return {f"{r}/{s}": f"data/study/models/yes{r}_seed{s}" for r in STUDY_RATES for s in STUDY_SEEDS}


def study_outputs():
    """What a run of the study config makes (its default target): the study report and figure."""
    return ["results/study/report.html", "results/study/gain_vs_prior.png", "results/study/gain_vs_prior.pdf"]
