# Paths and input functions shared by the rules.
import re

from lvlm_debias.analysis.calibration import probes_for
from lvlm_debias.analysis.sweep import stored_temperatures
from lvlm_debias.benchmarks import benchmark, converter
from lvlm_debias.config import model_dir as model_source
from lvlm_debias.config import trained_models
from lvlm_debias.config import datasets, hub_datasets, hub_models, url_datasets
from lvlm_debias.decoding.base import DECODING_PARAMETERS
from lvlm_debias.scoring.official import OfficialSettings
from lvlm_debias.inputs.probes import PROBES as PROBE_REGISTRY
from lvlm_debias.outputs import QUESTIONS, REPORT_HTML, Run, output_path, outputs_for, study_path

MODELS = list(config["models"])
TRAINED = trained_models(config)
BENCHMARKS = config["benchmarks"]
SCORING = config["scoring"]
SHARDS = SCORING["shards"]
CALIBRATION = config["calibration"]
METHODS = ["naive", *CALIBRATION["references"]]
#: the first-token method table with its nulls (analysis.baselines), when configured
BASELINES = config.get("baselines")
PROBES = probes_for([*METHODS, *(BASELINES["calibrations"] if BASELINES else [])])
#: the probes whose input depends on the image (scored per question, in shards) and the others (once per prompt)
SHARD_PROBES = [p for p in PROBES if PROBE_REGISTRY[p].per_image]
REFERENCE_PROBES = [p for p in PROBES if not PROBE_REGISTRY[p].per_image]
#: what the run makes outputs for (lvlm_debias.outputs: OUTPUTS, rule all and the report read it)
RUN = Run.from_config(config, PROBES)
#: the text probes among them, in the registry's order (the text-only bias tables)
TEXT_ONLY = list(RUN.text_only)
SWEEP = config.get("sweep", {})
#: the official code's reading beside ours (scoring.readings): its settings, and the benchmarks that have one
OFFICIAL = OfficialSettings.from_dict(SCORING["official"]) if "official" in SCORING["readings"] else None
OFFICIAL_BENCHMARKS = list(RUN.official)
#: the first-token contrast grid (VDD at every alpha x beta, from the logit cache), when configured
CONTRAST_GRID = config.get("contrast_grid")
#: whether scoring stores the logit cache (scoring.store), which the official reading, the grid and the method table
#: are derived from
LOGITS = bool(OFFICIAL or CONTRAST_GRID or BASELINES)
#: the temperatures whose log-normalisers scoring stores: the sweep's, the official reading's, the grid's and the
#: method table's
TEMPERATURES = sorted(
    {
        *stored_temperatures(SWEEP),
        *([OFFICIAL.temperature] if OFFICIAL else []),
        *([CONTRAST_GRID["temperature"]] if CONTRAST_GRID else []),
        *([BASELINES["temperature"]] if BASELINES else []),
    }
)
PRIOR_PROBING = config.get("prior_probing")
REPORT = config["report"]
GENERATION = config.get("generation", {})
GENERATION_SETTINGS = list(RUN.settings)
#: the decoding methods and their parameters (the fields of decoding.base.DecodingParameters), as the schema filled them
DECODING = {key: GENERATION[key] for key in ["methods", "settings", *DECODING_PARAMETERS] if key in GENERATION} if GENERATION else {}
CAPTIONS = GENERATION.get("captions") or {}
CLASSIFICATION = GENERATION.get("classification") or {}
OPEN_ENDED = GENERATION.get("open_ended") or {}
ENV = f"../../{config['conda_env']}"
HUB_MODELS = hub_models(config)
DATASETS = datasets(config)
HUB_DATASETS = list(hub_datasets(config))
URL_DATASETS = list(url_datasets(config))
DOWNLOADS = config["downloads"]


def splits_of(name):
    """The configured splits of a benchmark (POPE's are chosen in config; MME and MMMU have one)."""
    return list(RUN.splits[name])


ALL_SPLITS = sorted({s for b in BENCHMARKS for s in splits_of(b)})
BENCHMARK_SPLITS = [f"{b}/{s}" for b in BENCHMARKS for s in splits_of(b)]
SAMPLES_FROM = list(RUN.samples_from)
SUBSET_BENCHMARKS = list(RUN.subsets)
CONTRASTIVE_SPLITS = list(RUN.classification)


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
    name = wildcards.benchmark
    return QUESTIONS.format(dataset=RUN.datasets[name], benchmark=name, split=wildcards.split)


def source_questions(wildcards):
    """The question files of every split of a benchmark, in split order: the source the logit cache is built over."""
    name = wildcards.benchmark
    return [QUESTIONS.format(dataset=RUN.datasets[name], benchmark=name, split=split) for split in splits_of(name)]


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
    return [output_path("decoding", model=wildcards.model)] if wildcards.setting == "best" else []


def split_label_probs(wildcards):
    return [output_path("{benchmark}/{split}/label_probs", split=s) for s in splits_of(wildcards.benchmark)]


def split_logits(wildcards):
    """The logit cache of every split of a benchmark."""
    return [output_path("{benchmark}/{split}/logits", split=s) for s in splits_of(wildcards.benchmark)]


def generated_splits(benchmark):
    """The splits of ``benchmark`` answered by generation (generation.classification), once per generation
    setting, in the order of :func:`split_generated`."""
    return [s for s in splits_of(benchmark) if f"{benchmark}/{s}" in CONTRASTIVE_SPLITS for _ in GENERATION_SETTINGS]


def split_generated(wildcards):
    """The answers by generation of every split of a benchmark that has them, one file per generation setting."""
    return [
        output_path("contrastive/{benchmark}/{split}/{setting}", split=s, setting=setting)
        for s in splits_of(wildcards.benchmark)
        if f"{wildcards.benchmark}/{s}" in CONTRASTIVE_SPLITS
        for setting in GENERATION_SETTINGS
    ]


#: the shards' and the gathered split's logit cache, declared only when something is derived from it
SHARD_LOGITS = {"logits": output_path("{benchmark}/shards/{shard}/logits")} if LOGITS else {}
SPLIT_LOGITS = {"logits": output_path("{benchmark}/{split}/logits")} if LOGITS else {}


def model_outputs(model):
    """Every table and figure of one model (the report's inputs), and the per-question tables the report's paper
    checks resample: key -> path (lvlm_debias.outputs.OUTPUTS)."""
    return outputs_for(RUN, model)


def sample_settings():
    """Where the report's per-sample browser takes its questions from: the first benchmark's first split."""
    name, split = SAMPLES_FROM
    return {"benchmark": name, "split": split, "image_root": f"data/{RUN.datasets[name]}", "n": RUN.samples}


# Downloads (workflow/rules/download.smk)
DOWNLOAD_RESOURCES = {"mem_mb": 8000, "runtime": 240, "download": 1}  # profiles/slurm caps `download`
if DOWNLOADS.get("partition"):
    DOWNLOAD_RESOURCES["slurm_partition"] = DOWNLOADS["partition"]


def dataset_splits(name):
    """Splits made of a dataset that no benchmark uses (e.g. LLaVA-Bench for generation): its `splits` or the
    format's default."""
    entry = DATASETS[name]
    return entry.get("splits", list(converter(entry["format"]).splits))


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
    return QUESTIONS.format(dataset=name, benchmark=DATASETS[name]["format"], split=dataset_splits(name)[0])


def dataset_outputs():
    """Question files of the datasets no benchmark uses: data/<dataset>/<format>/<split>.jsonl."""
    return [
        QUESTIONS.format(dataset=name, benchmark=DATASETS[name]["format"], split=split)
        for name in DATASET_ONLY
        for split in dataset_splits(name)
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
    return QUESTIONS.format(dataset=RUN.datasets[name], benchmark=name, split=split)


# The controlled study (workflow/rules/study.smk, included only with a `study:` section).
STUDY = config.get("study") or {}
STUDY_ENTRY = config["models"][STUDY["model"]] if STUDY else {}
STUDY_RATES = [f"{r:g}" for r in STUDY.get("yes_rates", [])]
STUDY_SEEDS = [str(s) for s in STUDY.get("seeds", [])]
STUDY_LEVELS = list(STUDY.get("levels", {}))
STUDY_METHODS = STUDY["methods"] if STUDY else []



def study_entry(wildcards):
    """The study's model entry with the prior's yes_rate of the job."""
    return {**STUDY_ENTRY, "prior": {**STUDY_ENTRY.get("prior", {}), "yes_rate": float(wildcards.yes_rate)}}


def study_level_folders():
    """Evidence level -> the folder of its evaluation images and questions (rule study_level)."""
    return {level: study_path("level", level=level) for level in STUDY_LEVELS}


def study_models():
    """"<yes_rate>/<seed>" -> the study model's checkpoint folder (rule study_model)."""
    return {f"{r}/{s}": study_path("model", yes_rate=r, seed=s) for r in STUDY_RATES for s in STUDY_SEEDS}


def study_outputs():
    """What a run of the study config makes (its default target): the study report and figure."""
    return [study_path("report"), study_path("figure"), study_path("figure/pdf")]


def final_outputs():
    """The files the default target requests (rule all), with a `study` section the study's report and figure, else
    the report, every model's outputs (lvlm_debias.outputs.OUTPUTS) and the question files of the datasets no
    benchmark uses."""
    if "study" in config:
        return study_outputs()
    return [REPORT_HTML, *(path for model in MODELS for path in model_outputs(model).values()), *dataset_outputs()]
