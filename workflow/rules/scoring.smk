# First-position label probabilities of every question under every probe, in shards, gathered per benchmark split.


rule benchmark_questions:
    input:
        annotations="data/shapes_world/annotations.jsonl",
    output:
        "data/shapes_world/{benchmark}/{split}.jsonl",
    params:
        settings=lambda wildcards: BENCHMARKS[wildcards.benchmark],
        seed=config["seed"],
    log:
        "logs/benchmark_questions/{benchmark}/{split}.log",
    benchmark:
        "benchmarks/benchmark_questions/{benchmark}/{split}.tsv"
    conda:
        ENV
    script:
        "../scripts/benchmark_questions.py"


# The logit cache of a benchmark source (lvlm_debias.scoring.cache): each distinct (image, question) pair of all its
# splits scored once, each image's prefix once, in shards of whole batches; every split's table gathered from it.


rule first_token_shard:
    input:
        model=model_inputs,
        questions=source_questions,
    output:
        scores="results/{model}/{benchmark}/shards/{shard}.csv",
        first_token="results/{model}/{benchmark}/shards/{shard}.npz",
        **SHARD_LOGITS,
    params:
        model=lambda wildcards: config["models"][wildcards.model],
        model_dir=lambda wildcards: model_dir(wildcards.model),
        splits=lambda wildcards: splits_of(wildcards.benchmark),
        image_root=image_root,
        probes=SHARD_PROBES,
        shards=SHARDS,
        batch_size=SCORING["batch_size"],
        top_k=SCORING["top_k"],
        store_top=SCORING["store_top"],
        temperatures=TEMPERATURES,
        seed=config["seed"],
        skip_bad=SCORING["skip_bad_records"],
    threads: MODEL_THREADS
    resources:
        **MODEL_RESOURCES,
        runtime=60,
    log:
        "logs/{model}/{benchmark}/shards/{shard}.log",
    benchmark:
        "benchmarks/first_token_shard/{model}/{benchmark}/shards/{shard}.tsv"
    conda:
        ENV
    script:
        "../scripts/first_token_shard.py"


rule reference_probs:
    input:
        model=model_inputs,
        questions=source_questions,
    output:
        "results/{model}/{benchmark}/references.csv",
    params:
        model=lambda wildcards: config["models"][wildcards.model],
        model_dir=lambda wildcards: model_dir(wildcards.model),
        splits=lambda wildcards: splits_of(wildcards.benchmark),
        image_root=image_root,
        probes=REFERENCE_PROBES,
        batch_size=SCORING["batch_size"],
        top_k=SCORING["top_k"],
        seed=config["seed"],
        skip_bad=SCORING["skip_bad_records"],
    threads: MODEL_THREADS
    resources:
        **MODEL_RESOURCES,
        runtime=30,
    log:
        "logs/{model}/{benchmark}/references.log",
    benchmark:
        "benchmarks/reference_probs/{model}/{benchmark}/references.tsv"
    conda:
        ENV
    script:
        "../scripts/reference_probs.py"


rule label_probs:
    input:
        questions=source_questions,
        shards=expand("results/{{model}}/{{benchmark}}/shards/{shard}.csv", shard=range(SHARDS)),
        first_token=expand("results/{{model}}/{{benchmark}}/shards/{shard}.npz", shard=range(SHARDS)),
        references="results/{model}/{benchmark}/references.csv",
        logits=(
            expand("results/{{model}}/{{benchmark}}/shards/{shard}.logits.npz", shard=range(SHARDS)) if LOGITS else []
        ),
    output:
        table="results/{model}/{benchmark}/{split}/label_probs.csv",
        first_token="results/{model}/{benchmark}/{split}/first_token.npz",
        meta="results/{model}/{benchmark}/{split}/label_probs.meta.json",
        **SPLIT_LOGITS,
    params:
        probes=PROBES,
        splits=lambda wildcards: splits_of(wildcards.benchmark),
        image_root=image_root,
        skip_bad=SCORING["skip_bad_records"],
    log:
        "logs/{model}/{benchmark}/{split}/label_probs.log",
    benchmark:
        "benchmarks/label_probs/{model}/{benchmark}/{split}/label_probs.tsv"
    conda:
        ENV
    script:
        "../scripts/label_probs.py"
