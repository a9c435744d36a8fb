# POPE: first-position label probabilities per probe, then naive vs post-hoc calibration.


rule pope_label_probs:
    input:
        model=model_inputs,
        questions=pope_questions,
    output:
        "results/{model}/pope/{split}/label_probs.csv",
    params:
        model=lambda wildcards: config["models"][wildcards.model],
        model_dir=lambda wildcards: model_dir(wildcards.model),
        image_root=lambda wildcards: f"data/{POPE['dataset']}",
        scoring=config.get("scoring", {}),
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    log:
        "logs/{model}/pope/{split}/label_probs.log",
    benchmark:
        "benchmarks/{model}/pope/{split}/label_probs.tsv"
    conda:
        ENV
    script:
        "../scripts/pope_label_probs.py"


rule pope_calibration:
    input:
        expand("results/{{model}}/pope/{split}/label_probs.csv", split=POPE_SPLITS),
    output:
        table=report(
            "results/{model}/pope/calibration.csv",
            caption="../report/pope_calibration.rst",
            category="POPE",
            labels={"model": "{model}", "kind": "table"},
        ),
    params:
        splits=POPE_SPLITS,
        methods=config.get("calibration", {}).get("references", ["none", "unk", "both"]),
    log:
        "logs/{model}/pope/calibration.log",
    conda:
        ENV
    script:
        "../scripts/pope_calibration.py"


rule pope_calibration_figure:
    input:
        "results/{model}/pope/calibration.csv",
    output:
        png=report(
            "results/{model}/pope/calibration.png",
            caption="../report/pope_calibration.rst",
            category="POPE",
            labels={"model": "{model}", "kind": "figure"},
        ),
        pdf="results/{model}/pope/calibration.pdf",
    log:
        "logs/{model}/pope/calibration_figure.log",
    conda:
        ENV
    script:
        "../scripts/pope_calibration_figure.py"
