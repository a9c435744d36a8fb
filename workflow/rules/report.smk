# The self-contained HTML report.


rule report:
    input:
        tables=expand("results/{model}/pope/calibration.csv", model=MODELS) if POPE else [],
        figures=expand("results/{model}/pope/calibration.png", model=MODELS) if POPE else [],
        models=[model_dir(m) for m in TRAINED],
    output:
        "results/report.html",
    params:
        config=config,
        models=MODELS,
        model_dirs={m: model_dir(m) for m in MODELS},
    log:
        "logs/report.log",
    conda:
        ENV
    script:
        "../scripts/report.py"
