# Generation: captions under naive, VCD and VDD decoding (CHAIR), open-ended answers (LLaVA-Bench), and the
# classification benchmarks answered by generation with each decoding method.


rule caption_questions:
    input:
        annotations="data/shapes_world/annotations.jsonl",
    output:
        "data/shapes_world/captions/eval.jsonl",
    params:
        n_images=CAPTIONS.get("n_images"),
    log:
        "logs/caption_questions.log",
    benchmark:
        "benchmarks/caption_questions/eval.tsv"
    conda:
        ENV
    script:
        "../scripts/caption_questions.py"


rule captions:
    input:
        model=model_inputs,
        questions=f"data/{CAPTIONS.get('dataset')}/captions/eval.jsonl",
        decoding=decoding_summary_input,
    output:
        output_path("captions/{setting}"),
    params:
        model=lambda wildcards: config["models"][wildcards.model],
        model_dir=lambda wildcards: model_dir(wildcards.model),
        image_root=questions_root,
        decoding=DECODING,
        captions=CAPTIONS,
        sweep=SWEEP,
        benchmark=BENCHMARK_SPLITS[0].split("/")[0],
        seed=config["seed"],
    threads: MODEL_THREADS
    resources:
        **MODEL_RESOURCES,
        runtime=60,
    log:
        "logs/{model}/captions/{setting}.log",
    benchmark:
        "benchmarks/captions/{model}/{setting}.tsv"
    conda:
        ENV
    script:
        "../scripts/captions.py"


rule chair:
    input:
        questions=f"data/{CAPTIONS.get('dataset')}/captions/eval.jsonl",
        captions=[output_path("captions/{setting}", setting=s) for s in GENERATION_SETTINGS],
    output:
        table=report(
            output_path("chair"),
            caption="../report/generation.rst",
            category="Generation",
            labels={"model": "{model}", "kind": "table"},
        ),
        png=report(
            output_path("chair_png"),
            caption="../report/generation.rst",
            category="Generation",
            labels={"model": "{model}", "kind": "figure"},
        ),
        pdf="results/{model}/chair.pdf",
        samples=output_path("chair_samples"),
        per_caption=output_path("chair_captions"),
    params:
        captions=CAPTIONS,
        image_root=questions_root,
    log:
        "logs/{model}/chair.log",
    benchmark:
        "benchmarks/chair/{model}/chair.tsv"
    conda:
        ENV
    script:
        "../scripts/chair.py"


rule contrastive_answers:
    input:
        model=model_inputs,
        questions=questions_file,
        decoding=decoding_summary_input,
    output:
        output_path("contrastive/{benchmark}/{split}/{setting}"),
    params:
        model=lambda wildcards: config["models"][wildcards.model],
        model_dir=lambda wildcards: model_dir(wildcards.model),
        image_root=image_root,
        decoding=DECODING,
        max_new_tokens=CLASSIFICATION.get("max_new_tokens"),
        sweep=SWEEP,
        parser=parser_of,
        batch_size=SCORING["batch_size"],
        seed=config["seed"],
        skip_bad=SCORING["skip_bad_records"],
    threads: MODEL_THREADS
    resources:
        **MODEL_RESOURCES,
        runtime=60,
    log:
        "logs/{model}/{benchmark}/{split}/contrastive/{setting}.log",
    benchmark:
        "benchmarks/contrastive_answers/{model}/{benchmark}/{split}/{setting}.tsv"
    conda:
        ENV
    script:
        "../scripts/contrastive_answers.py"


rule contrastive_classification:
    input:
        [
            output_path("contrastive/{benchmark}/{split}/{setting}", benchmark=b, split=s, setting=setting)
            for b, s in (key.split("/") for key in CONTRASTIVE_SPLITS)
            for setting in GENERATION_SETTINGS
        ],
    output:
        table=report(
            output_path("contrastive"),
            caption="../report/generation.rst",
            category="Generation",
            labels={"model": "{model}", "kind": "classification table"},
        ),
        png=report(
            output_path("contrastive_png"),
            caption="../report/generation.rst",
            category="Generation",
            labels={"model": "{model}", "kind": "classification figure"},
        ),
        pdf="results/{model}/contrastive.pdf",
    params:
        splits=[key for key in CONTRASTIVE_SPLITS for setting in GENERATION_SETTINGS],
    log:
        "logs/{model}/contrastive.log",
    benchmark:
        "benchmarks/contrastive_classification/{model}/contrastive.tsv"
    conda:
        ENV
    script:
        "../scripts/contrastive_classification.py"


rule open_answers:
    input:
        model=model_inputs,
        questions=open_questions() if OPEN_ENDED else [],
        decoding=decoding_summary_input,
    output:
        output_path("open_ended/{setting}"),
    params:
        model=lambda wildcards: config["models"][wildcards.model],
        model_dir=lambda wildcards: model_dir(wildcards.model),
        image_root=questions_root,
        decoding=DECODING,
        open_ended=OPEN_ENDED,
        sweep=SWEEP,
        benchmark=BENCHMARK_SPLITS[0].split("/")[0],
        seed=config["seed"],
    threads: MODEL_THREADS
    resources:
        **MODEL_RESOURCES,
        runtime=60,
    log:
        "logs/{model}/open_ended/{setting}.log",
    benchmark:
        "benchmarks/open_answers/{model}/{setting}.tsv"
    conda:
        ENV
    script:
        "../scripts/open_answers.py"


rule open_ended:
    input:
        questions=open_questions() if OPEN_ENDED else [],
        answers=[output_path("open_ended/{setting}", setting=s) for s in GENERATION_SETTINGS],
    output:
        table=report(
            output_path("open_ended"),
            caption="../report/generation.rst",
            category="Generation",
            labels={"model": "{model}", "kind": "open-ended table"},
        ),
        samples=output_path("open_ended_samples"),
    params:
        open_ended=OPEN_ENDED,
        image_root=questions_root,
    log:
        "logs/{model}/open_ended.log",
    benchmark:
        "benchmarks/open_ended/{model}/open_ended.tsv"
    conda:
        ENV
    script:
        "../scripts/open_ended.py"
