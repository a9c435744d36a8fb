# Attention to system, image and question tokens (the paper's Fig. 2): the only job that loads a model with eager
# attention.


rule attention:
    input:
        model=model_inputs,
        questions=attention_questions(),
    output:
        table=output_path("attention"),
        tokens=output_path("attention_tokens"),
        questions=output_path("attention_questions"),
        generation=output_path("attention_generation"),
        generation_samples=output_path("attention_generation_samples"),
        png=report(
            output_path("attention_png"),
            caption="../report/attention.rst",
            category="Attention",
            labels={"model": "{model}", "figure": "per layer"},
        ),
        pdf="results/{model}/attention.pdf",
        generation_png=report(
            output_path("attention_generation_png"),
            caption="../report/attention.rst",
            category="Attention",
            labels={"model": "{model}", "figure": "per generation step"},
        ),
        generation_pdf="results/{model}/attention_generation.pdf",
    params:
        model=lambda wildcards: config["models"][wildcards.model],
        model_dir=lambda wildcards: model_dir(wildcards.model),
        image_root=questions_root,
        settings=ATTENTION,
        seed=config["seed"],
    threads: MODEL_THREADS
    resources:
        **MODEL_RESOURCES,
        runtime=30,
    log:
        "logs/{model}/attention.log",
    benchmark:
        "benchmarks/attention/{model}/attention.tsv"
    conda:
        ENV
    script:
        "../scripts/attention.py"
