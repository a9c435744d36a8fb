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
        study_path("tower"),
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
        tower=study_path("tower"),
    output:
        directory(study_path("model")),
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
        questions=study_path("level/questions"),
        annotations=study_path("level/annotations"),
        images=directory(study_path("level/images")),
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
        model=study_path("model"),
        questions=[study_path("level/questions", level=level) for level in STUDY_LEVELS],
        images=[study_path("level/images", level=level) for level in STUDY_LEVELS],
    output:
        study_path("scores"),
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
        [study_path("scores", yes_rate=r, seed=s) for r in STUDY_RATES for s in STUDY_SEEDS],
    output:
        study=study_path("study"),
        gain=study_path("gain"),
        confidence=study_path("gain_by_confidence"),
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
        study_path("gain"),
    output:
        png=study_path("figure"),
        pdf=study_path("figure/pdf"),
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
        study=study_path("study"),
        gain=study_path("gain"),
        confidence=study_path("gain_by_confidence"),
        figure=study_path("figure"),
        models=list(study_models().values()),
    output:
        study_path("report"),
    params:
        study=STUDY,
        models=study_models(),
    log:
        "logs/study/report.log",
    conda:
        ENV
    script:
        "../scripts/study_report.py"
