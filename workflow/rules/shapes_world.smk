# ShapesWorld: synthetic images with ground truth, and POPE-style questions about them.


rule shapes_world:
    output:
        annotations="data/shapes_world/annotations.jsonl",
        images=directory("data/shapes_world/images"),
    params:
        world=config["world"],
        seed=config["seed"],
    log:
        "logs/shapes_world.log",
    benchmark:
        "benchmarks/shapes_world.tsv"
    conda:
        ENV
    script:
        "../scripts/shapes_world.py"


rule pope_questions:
    input:
        annotations="data/shapes_world/annotations.jsonl",
    output:
        "data/shapes_world/pope/{split}.jsonl",
    params:
        seed=config["seed"],
        n_images=POPE["n_images"] if POPE else None,
        max_positives=POPE["max_positives"] if POPE else None,
    log:
        "logs/pope_questions/{split}.log",
    conda:
        ENV
    script:
        "../scripts/pope_questions.py"
