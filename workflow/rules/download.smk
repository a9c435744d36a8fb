# Downloads from the Hugging Face hub: `source: hub` models into the HF cache (a manifest written last marks each
# complete: the scoring jobs depend on it), and `datasets` entries converted to question files with their images.
# `source: url` datasets (POPE's A-OKVQA and GQA questions, with their image zips) are fetched from plain URLs into
# data/<dataset>/downloads/ and converted to the same question files.
# Local jobs on the submitting host by default (downloads.local); downloads.local: false runs them as cluster jobs,
# on downloads.partition when set.
if DOWNLOADS["local"]:

    localrules:
        hub_model,
        hub_dataset,
        hub_questions,
        url_dataset,
        url_questions,


rule hub_model:
    output:
        "data/models/{model}/manifest.json",
    wildcard_constraints:
        model=one_of(HUB_MODELS),
    params:
        entry=lambda wildcards: config["models"][wildcards.model],
        fetch=DOWNLOADS["fetch"],
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
        dataset=one_of(HUB_DATASETS),
    params:
        entry=lambda wildcards: DATASETS[wildcards.dataset],
        fetch=DOWNLOADS["fetch"],
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
        questions=QUESTIONS,
        manifest="data/{dataset}/{benchmark}/{split}.manifest.json",
    wildcard_constraints:
        dataset=one_of(HUB_DATASETS),
        benchmark=one_of(QUESTION_BENCHMARKS),
        split=one_of(QUESTION_SPLITS),
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


rule url_dataset:
    output:
        "data/{dataset}/url_files.json",
    wildcard_constraints:
        dataset=one_of(URL_DATASETS),
    params:
        entry=lambda wildcards: DATASETS[wildcards.dataset],
        splits=lambda wildcards: url_splits(wildcards.dataset),
        root=lambda wildcards: f"data/{wildcards.dataset}",
        fetch=DOWNLOADS["fetch"],
    resources:
        **DOWNLOAD_RESOURCES,
    log:
        "logs/url_dataset/{dataset}.log",
    benchmark:
        "benchmarks/url_dataset/{dataset}.tsv"
    conda:
        ENV
    script:
        "../scripts/url_dataset.py"


rule url_questions:
    input:
        "data/{dataset}/url_files.json",
    output:
        questions=QUESTIONS,
        manifest="data/{dataset}/{benchmark}/{split}.manifest.json",
    wildcard_constraints:
        dataset=one_of(URL_DATASETS),
        benchmark=one_of(QUESTION_BENCHMARKS),
        split=one_of(QUESTION_SPLITS),
    params:
        root=lambda wildcards: f"data/{wildcards.dataset}",
    resources:
        **DOWNLOAD_RESOURCES,
    log:
        "logs/url_questions/{dataset}/{benchmark}/{split}.log",
    benchmark:
        "benchmarks/url_questions/{dataset}/{benchmark}/{split}.tsv"
    conda:
        ENV
    script:
        "../scripts/url_questions.py"
