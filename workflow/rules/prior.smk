# Prior probing (Fig. 1): answers about objects absent from the image, under every probe input.


rule prior_probing:
    input:
        model=model_inputs,
        annotations="data/shapes_world/annotations.jsonl",
    output:
        table=output_path("prior_probing"),
        png=report(
            output_path("prior_probing_png"),
            caption="../report/prior_probing.rst",
            category="Prior probing",
            labels={"model": "{model}"},
        ),
        pdf="results/{model}/prior_probing.pdf",
    params:
        model=lambda wildcards: config["models"][wildcards.model],
        model_dir=lambda wildcards: model_dir(wildcards.model),
        settings=PRIOR_PROBING,
        probes=lambda wildcards: PRIOR_PROBING["probes"],
        seed=config["seed"],
    threads: MODEL_THREADS
    resources:
        **MODEL_RESOURCES,
        runtime=10,
    log:
        "logs/{model}/prior_probing.log",
    benchmark:
        "benchmarks/prior_probing/{model}/prior_probing.tsv"
    conda:
        ENV
    script:
        "../scripts/prior_probing.py"
