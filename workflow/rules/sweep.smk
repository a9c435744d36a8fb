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
        batch_size=SCORING.get("batch_size", 64),
        seed=config["seed"],
        skip_bad=SCORING.get("skip_bad_records", False),
    threads: 2
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
