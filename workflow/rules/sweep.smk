# Decoding configurations (temperature x top-p x top-k), derived from the stored first-position distributions.


rule decoding_sweep:
    input:
        model=model_inputs,
        questions=questions_file,
        table=output_path("{benchmark}/{split}/label_probs"),
        first_token=output_path("{benchmark}/{split}/first_token"),
    output:
        table=output_path("{benchmark}/{split}/sweep"),
        questions=output_path("{benchmark}/{split}/sweep_questions"),
    params:
        model=lambda wildcards: config["models"][wildcards.model],
        model_dir=lambda wildcards: model_dir(wildcards.model),
        image_root=image_root,
        settings=SWEEP,
        parser=parser_of,
        batch_size=SCORING["batch_size"],
        seed=config["seed"],
        skip_bad=SCORING["skip_bad_records"],
    threads: MODEL_THREADS
    resources:
        **MODEL_RESOURCES,
        runtime=30,
    log:
        "logs/{model}/{benchmark}/{split}/sweep.log",
    benchmark:
        "benchmarks/decoding_sweep/{model}/{benchmark}/{split}/sweep.tsv"
    conda:
        ENV
    script:
        "../scripts/decoding_sweep.py"


rule decoding_summary:
    input:
        [output_path("{benchmark}/{split}/sweep", benchmark=b, split=s) for b in BENCHMARKS for s in splits_of(b)],
    output:
        table=report(
            output_path("decoding"),
            caption="../report/decoding.rst",
            category="Decoding",
            labels={"model": "{model}", "kind": "table"},
        ),
        png=report(
            output_path("decoding_png"),
            caption="../report/decoding.rst",
            category="Decoding",
            labels={"model": "{model}", "kind": "figure"},
        ),
        pdf="results/{model}/decoding.pdf",
    params:
        splits=BENCHMARK_SPLITS,
        settings=SWEEP,
    log:
        "logs/{model}/decoding.log",
    benchmark:
        "benchmarks/decoding_summary/{model}/decoding.tsv"
    conda:
        ENV
    script:
        "../scripts/decoding_summary.py"


rule contrast_grid:
    input:
        label_probs=split_label_probs,
        logits=split_logits,
    output:
        table=output_path("{benchmark}/contrast_grid"),
        png=report(
            output_path("{benchmark}/contrast_grid_png"),
            caption="../report/contrast_grid.rst",
            category="Decoding",
            labels={"model": "{model}", "benchmark": "{benchmark}", "kind": "contrast grid"},
        ),
        pdf="results/{model}/{benchmark}/contrast_grid.pdf",
    params:
        splits=lambda wildcards: splits_of(wildcards.benchmark),
        grid=CONTRAST_GRID,
    log:
        "logs/{model}/{benchmark}/contrast_grid.log",
    benchmark:
        "benchmarks/contrast_grid/{model}/{benchmark}/contrast_grid.tsv"
    conda:
        ENV
    script:
        "../scripts/contrast_grid.py"


rule baselines:
    input:
        label_probs=split_label_probs,
        logits=split_logits,
        generated=split_generated,
    output:
        output_path("{benchmark}/baselines"),
    params:
        splits=lambda wildcards: splits_of(wildcards.benchmark),
        generated_splits=lambda wildcards: generated_splits(wildcards.benchmark),
        settings=BASELINES,
        seed=config["seed"],
    log:
        "logs/{model}/{benchmark}/baselines.log",
    benchmark:
        "benchmarks/baselines/{model}/{benchmark}/baselines.tsv"
    conda:
        ENV
    script:
        "../scripts/baselines.py"
