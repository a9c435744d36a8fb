# ShapesWorld: synthetic images with ground truth.


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
        "benchmarks/shapes_world/shapes_world.tsv"
    conda:
        ENV
    script:
        "../scripts/shapes_world.py"
