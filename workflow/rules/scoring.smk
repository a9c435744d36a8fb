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


rule first_token_shard:
    input:
        model=model_inputs,
        questions=questions_file,
    output:
        scores="results/{model}/{benchmark}/{split}/shards/{shard}.csv",
        first_token="results/{model}/{benchmark}/{split}/shards/{shard}.npz",
        **SHARD_OFFICIAL,
    params:
        model=lambda wildcards: config["models"][wildcards.model],
        model_dir=lambda wildcards: model_dir(wildcards.model),
        image_root=image_root,
        probes=SHARD_PROBES,
        shards=SHARDS,
        batch_size=SCORING.get("batch_size", 64),
        top_k=SCORING.get("top_k", 100),
        store_top=SCORING.get("store_top", 100),
        temperatures=TEMPERATURES,
        seed=config["seed"],
        skip_bad=SCORING.get("skip_bad_records", False),
    threads: 2
    resources:
        **MODEL_RESOURCES,
        runtime=60,
    log:
        "logs/{model}/{benchmark}/{split}/shards/{shard}.log",
    benchmark:
        "benchmarks/first_token_shard/{model}/{benchmark}/{split}/shards/{shard}.tsv"
    conda:
        ENV
    script:
        "../scripts/first_token_shard.py"


rule reference_probs:
    input:
        model=model_inputs,
        questions=questions_file,
    output:
        "results/{model}/{benchmark}/{split}/references.csv",
    params:
        model=lambda wildcards: config["models"][wildcards.model],
        model_dir=lambda wildcards: model_dir(wildcards.model),
        image_root=image_root,
        probes=REFERENCE_PROBES,
        batch_size=SCORING.get("batch_size", 64),
        top_k=SCORING.get("top_k", 100),
        seed=config["seed"],
        skip_bad=SCORING.get("skip_bad_records", False),
    threads: 2
    resources:
        **MODEL_RESOURCES,
        runtime=30,
    log:
        "logs/{model}/{benchmark}/{split}/references.log",
    benchmark:
        "benchmarks/reference_probs/{model}/{benchmark}/{split}/references.tsv"
    conda:
        ENV
    script:
        "../scripts/reference_probs.py"


rule label_probs:
    input:
        questions=questions_file,
        shards=expand("results/{{model}}/{{benchmark}}/{{split}}/shards/{shard}.csv", shard=range(SHARDS)),
        first_token=expand("results/{{model}}/{{benchmark}}/{{split}}/shards/{shard}.npz", shard=range(SHARDS)),
        references="results/{model}/{benchmark}/{split}/references.csv",
        official=(
            expand("results/{{model}}/{{benchmark}}/{{split}}/shards/{shard}.official.npz", shard=range(SHARDS))
            if OFFICIAL
            else []
        ),
    output:
        table="results/{model}/{benchmark}/{split}/label_probs.csv",
        first_token="results/{model}/{benchmark}/{split}/first_token.npz",
        meta="results/{model}/{benchmark}/{split}/label_probs.meta.json",
        **SPLIT_OFFICIAL,
    params:
        probes=PROBES,
        image_root=image_root,
        skip_bad=SCORING.get("skip_bad_records", False),
    log:
        "logs/{model}/{benchmark}/{split}/label_probs.log",
    benchmark:
        "benchmarks/label_probs/{model}/{benchmark}/{split}/label_probs.tsv"
    conda:
        ENV
    script:
        "../scripts/label_probs.py"
