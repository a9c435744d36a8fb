# The self-contained HTML report.


rule report:
    input:
        outputs=[path for model in MODELS for path in model_outputs(model).values()],
        models=[model_dir(m) for m in TRAINED],
    output:
        REPORT_HTML,
    params:
        config=config,
        models=MODELS,
        outputs={m: model_outputs(m) for m in MODELS},
        model_dirs={m: model_dir(m) for m in MODELS},
        root=workflow.basedir,
        benchmarks="benchmarks",
        paper_numbers=str(Path(workflow.basedir) / REPORT["paper_numbers"]),
        paper_names={m: config["models"][m].get("paper_name") for m in MODELS},
        samples=sample_settings(),
    log:
        "logs/report.log",
    benchmark:
        "benchmarks/report/report.tsv"
    conda:
        ENV
    script:
        "../scripts/report.py"
