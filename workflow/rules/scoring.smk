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
        scores=output_path("{benchmark}/shards/{shard}"),
        first_token=output_path("{benchmark}/shards/{shard}/first_token"),
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
        output_path("{benchmark}/references"),
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
        shards=[output_path("{benchmark}/shards/{shard}", shard=i) for i in range(SHARDS)],
        first_token=[output_path("{benchmark}/shards/{shard}/first_token", shard=i) for i in range(SHARDS)],
        references=output_path("{benchmark}/references"),
        logits=(
            [output_path("{benchmark}/shards/{shard}/logits", shard=i) for i in range(SHARDS)] if LOGITS else []
        ),
    output:
        table=output_path("{benchmark}/{split}/label_probs"),
        first_token=output_path("{benchmark}/{split}/first_token"),
        meta=output_path("{benchmark}/{split}/label_probs_meta"),
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
