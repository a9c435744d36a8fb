# The controlled study (`make study`, config/study.yaml): when does debiasing help? The study's model entry is trained
# at every injected yes_rate x seed (one stage-0 vision tower per seed, shared by every yes_rate) and asked POPE
# questions at every evidence level (evaluation images whose objects are hard to see with the level's hard_share).
# Included by the Snakefile only when the config has a `study:` section.

wildcard_constraints:
    yes_rate=one_of(STUDY_RATES),
    seed=one_of(STUDY_SEEDS),
    level=one_of(STUDY_LEVELS),


rule study_tower:
    input:
        annotations="data/shapes_world/annotations.jsonl",
        images="data/shapes_world/images",
    output:
        "data/study/towers/seed{seed}.safetensors",
    params:
        world=config["world"],
        model=STUDY_ENTRY,
    threads: STUDY["threads"]
    resources:
        **MODEL_RESOURCES,
        runtime=30,
    log:
        "logs/study/tower_seed{seed}.log",
    benchmark:
        "benchmarks/study/tower_seed{seed}.tsv"
    conda:
        ENV
    script:
        "../scripts/study_tower.py"


rule study_model:
    input:
        annotations="data/shapes_world/annotations.jsonl",
        images="data/shapes_world/images",
        tower="data/study/towers/seed{seed}.safetensors",
    output:
        directory("data/study/models/yes{yes_rate}_seed{seed}"),
    params:
        world=config["world"],
        model=study_entry,
        seed=lambda wildcards: int(wildcards.seed),
    threads: STUDY["threads"]
    resources:
        **MODEL_RESOURCES,
        runtime=30,
    log:
        "logs/study/model_yes{yes_rate}_seed{seed}.log",
    benchmark:
        "benchmarks/study/model_yes{yes_rate}_seed{seed}.tsv"
    conda:
        ENV
    script:
        "../scripts/train_shapes_llava.py"


rule study_level:
    output:
        questions="data/study/levels/{level}/questions.jsonl",
        annotations="data/study/levels/{level}/annotations.jsonl",
        images=directory("data/study/levels/{level}/images"),
    params:
        world=config["world"],
        hard_share=lambda wildcards: STUDY["levels"][wildcards.level]["hard_share"],
        n_images=STUDY["n_images"],
        split=STUDY["split"],
        seed=config["seed"],
    log:
        "logs/study/level_{level}.log",
    benchmark:
        "benchmarks/study/level_{level}.tsv"
    conda:
        ENV
    script:
        "../scripts/study_level.py"


rule study_scores:
    input:
        model="data/study/models/yes{yes_rate}_seed{seed}",
        questions=expand("data/study/levels/{level}/questions.jsonl", level=STUDY_LEVELS),
        images=expand("data/study/levels/{level}/images", level=STUDY_LEVELS),
    output:
        "results/study/scores/yes{yes_rate}_seed{seed}.csv",
    params:
        model=study_entry,
        levels=study_level_folders(),
        top_k=SCORING["top_k"],
        batch_size=SCORING["batch_size"],
        seed=config["seed"],
    threads: STUDY["threads"]
    resources:
        **MODEL_RESOURCES,
    log:
        "logs/study/scores_yes{yes_rate}_seed{seed}.log",
    benchmark:
        "benchmarks/study/scores_yes{yes_rate}_seed{seed}.tsv"
    conda:
        ENV
    script:
        "../scripts/study_scores.py"


rule study_tables:
    input:
        expand("results/study/scores/yes{yes_rate}_seed{seed}.csv", yes_rate=STUDY_RATES, seed=STUDY_SEEDS),
    output:
        study="results/study/study.csv",
        gain="results/study/gain.csv",
        confidence="results/study/gain_by_confidence.csv",
    params:
        methods=STUDY_METHODS,
        resamples=STUDY["bootstrap_resamples"],
        seed=config["seed"],
        edges=STUDY["bin_edges"],
        min_count=STUDY["min_bin_count"],
    log:
        "logs/study/tables.log",
    benchmark:
        "benchmarks/study/tables.tsv"
    conda:
        ENV
    script:
        "../scripts/study_tables.py"


rule study_figure:
    input:
        "results/study/gain.csv",
    output:
        png="results/study/gain_vs_prior.png",
        pdf="results/study/gain_vs_prior.pdf",
    params:
        levels=STUDY_LEVELS,
    log:
        "logs/study/figure.log",
    conda:
        ENV
    script:
        "../scripts/study_figure.py"


rule study_report:
    input:
        study="results/study/study.csv",
        gain="results/study/gain.csv",
        confidence="results/study/gain_by_confidence.csv",
        figure="results/study/gain_vs_prior.png",
        models=list(study_models().values()),
    output:
        "results/study/report.html",
    params:
        study=STUDY,
        models=study_models(),
    log:
        "logs/study/report.log",
    conda:
        ENV
    script:
        "../scripts/study_report.py"
