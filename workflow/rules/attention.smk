# Attention to system, image and question tokens (the paper's Fig. 2): the only job that loads a model with eager
# attention.


rule attention:
    input:
        model=model_inputs,
        questions=attention_questions(),
    output:
        table="results/{model}/attention.csv",
        tokens="results/{model}/attention_tokens.csv",
        questions="results/{model}/attention_questions.csv",
        generation="results/{model}/attention_generation.csv",
        generation_samples="results/{model}/attention_generation_samples.csv",
        png=report(
            "results/{model}/attention.png",
            caption="../report/attention.rst",
            category="Attention",
            labels={"model": "{model}", "figure": "per layer"},
        ),
        pdf="results/{model}/attention.pdf",
        generation_png=report(
            "results/{model}/attention_generation.png",
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
