# Decoding configurations (temperature x top-p x top-k), derived from the stored first-position distributions.


rule decoding_sweep:
    input:
        model=model_inputs,
        questions=questions_file,
        table="results/{model}/{benchmark}/{split}/label_probs.csv",
        first_token="results/{model}/{benchmark}/{split}/first_token.npz",
    output:
        table="results/{model}/{benchmark}/{split}/sweep.csv",
        questions="results/{model}/{benchmark}/{split}/sweep_questions.csv",
    params:
        model=lambda wildcards: config["models"][wildcards.model],
        model_dir=lambda wildcards: model_dir(wildcards.model),
        image_root=image_root,
        settings=SWEEP,
        parser=parser_of,
        batch_size=SCORING.get("batch_size", 64),
        seed=config["seed"],
        skip_bad=SCORING.get("skip_bad_records", False),
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
        [f"results/{{model}}/{key}/sweep.csv" for key in BENCHMARK_SPLITS],
    output:
        table=report(
            "results/{model}/decoding.csv",
            caption="../report/decoding.rst",
            category="Decoding",
            labels={"model": "{model}", "kind": "table"},
        ),
        png=report(
            "results/{model}/decoding.png",
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
        table="results/{model}/{benchmark}/contrast_grid.csv",
        png=report(
            "results/{model}/{benchmark}/contrast_grid.png",
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
