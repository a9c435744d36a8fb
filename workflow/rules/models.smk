# Models: the embedded ShapesWorld LLaVA is trained here; hub models are loaded by repo id.


rule shapes_llava:
    input:
        annotations="data/shapes_world/annotations.jsonl",
        images="data/shapes_world/images",
    output:
        directory("data/models/{model}"),
    wildcard_constraints:
        model=one_of(TRAINED),
    params:
        world=config["world"],
        model=lambda wildcards: config["models"][wildcards.model],
        seed=config["seed"],
    threads: MODEL_THREADS
    resources:
        **MODEL_RESOURCES,
        runtime=30,
    log:
        "logs/models/{model}.log",
    benchmark:
        "benchmarks/shapes_llava/{model}.tsv"
    conda:
        ENV
    script:
        "../scripts/train_shapes_llava.py"
