# Downloads from the Hugging Face hub: `source: hub` models into the HF cache (a manifest written last marks each
# complete: the scoring jobs depend on it), and `datasets` entries converted to question files with their images.
# Local jobs on the submitting host by default (downloads.local); downloads.local: false runs them as cluster jobs,
# on downloads.partition when set.
if DOWNLOADS.get("local", True):

    localrules:
        hub_model,
        hub_dataset,
        hub_questions,


rule hub_model:
    output:
        "data/models/{model}/manifest.json",
    wildcard_constraints:
        model=one_of(HUB_MODELS),
    params:
        entry=lambda wildcards: config["models"][wildcards.model],
        fetch=DOWNLOADS.get("fetch", True),
    resources:
        **DOWNLOAD_RESOURCES,
    log:
        "logs/hub_model/{model}.log",
    benchmark:
        "benchmarks/hub_model/{model}.tsv"
    conda:
        ENV
    script:
        "../scripts/hub_model.py"


rule hub_dataset:
    output:
        "data/{dataset}/hub_files.json",
    wildcard_constraints:
        dataset=one_of(DATASETS),
    params:
        entry=lambda wildcards: DATASETS[wildcards.dataset],
        fetch=DOWNLOADS.get("fetch", True),
    resources:
        **DOWNLOAD_RESOURCES,
    log:
        "logs/hub_dataset/{dataset}.log",
    benchmark:
        "benchmarks/hub_dataset/{dataset}.tsv"
    conda:
        ENV
    script:
        "../scripts/hub_dataset.py"


rule hub_questions:
    input:
        "data/{dataset}/hub_files.json",
    output:
        questions="data/{dataset}/{benchmark}/{split}.jsonl",
        manifest="data/{dataset}/{benchmark}/{split}.manifest.json",
    wildcard_constraints:
        dataset=one_of(DATASETS),
        benchmark=one_of([*BENCHMARKS, *{DATASETS[d]["format"] for d in DATASET_ONLY}]),
        split=one_of(sorted({*ALL_SPLITS, *(s for d in DATASET_ONLY for s in dataset_splits(d))})),
    params:
        entry=lambda wildcards: DATASETS[wildcards.dataset],
        root=lambda wildcards: f"data/{wildcards.dataset}",
    resources:
        **DOWNLOAD_RESOURCES,
    log:
        "logs/hub_questions/{dataset}/{benchmark}/{split}.log",
    benchmark:
        "benchmarks/hub_questions/{dataset}/{benchmark}/{split}.tsv"
    conda:
        ENV
    script:
        "../scripts/hub_questions.py"
