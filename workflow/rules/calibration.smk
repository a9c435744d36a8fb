# Post-hoc calibration with each reference: tables per benchmark, confidence bins, benchmark bias.


rule calibration_table:
    input:
        split_label_probs,
    output:
        table=report(
            output_path("{benchmark}/calibration"),
            caption="../report/calibration.rst",
            category="Calibration",
            subcategory="{benchmark}",
            labels={"model": "{model}", "benchmark": "{benchmark}", "kind": "table"},
        ),
        subsets=output_path("{benchmark}/calibration_by_subset"),
    params:
        splits=lambda wildcards: splits_of(wildcards.benchmark),
        methods=METHODS,
    log:
        "logs/{model}/{benchmark}/calibration.log",
    benchmark:
        "benchmarks/calibration_table/{model}/{benchmark}/calibration.tsv"
    conda:
        ENV
    script:
        "../scripts/calibration_table.py"


rule reading_table:
    input:
        label_probs=split_label_probs,
        logits=split_logits,
    output:
        report(
            output_path("{benchmark}/readings"),
            caption="../report/readings.rst",
            category="Calibration",
            subcategory="{benchmark}",
            labels={"model": "{model}", "benchmark": "{benchmark}", "kind": "readings"},
        ),
    params:
        splits=lambda wildcards: splits_of(wildcards.benchmark),
        methods=METHODS,
        official=OFFICIAL,
    log:
        "logs/{model}/{benchmark}/readings.log",
    benchmark:
        "benchmarks/reading_table/{model}/{benchmark}/readings.tsv"
    conda:
        ENV
    script:
        "../scripts/reading_table.py"


rule calibration_figure:
    input:
        output_path("{benchmark}/calibration"),
    output:
        png=report(
            output_path("{benchmark}/calibration_png"),
            caption="../report/calibration.rst",
            category="Calibration",
            subcategory="{benchmark}",
            labels={"model": "{model}", "benchmark": "{benchmark}", "kind": "figure"},
        ),
        pdf="results/{model}/{benchmark}/calibration.pdf",
    log:
        "logs/{model}/{benchmark}/calibration_figure.log",
    benchmark:
        "benchmarks/calibration_figure/{model}/{benchmark}/calibration_figure.tsv"
    conda:
        ENV
    script:
        "../scripts/calibration_figure.py"


rule confidence_bins:
    input:
        split_label_probs,
    output:
        table=output_path("{benchmark}/confidence_bins"),
        png=report(
            output_path("{benchmark}/confidence_bins_png"),
            caption="../report/confidence_bins.rst",
            category="Confidence bins",
            labels={"model": "{model}", "benchmark": "{benchmark}"},
        ),
        pdf="results/{model}/{benchmark}/confidence_bins.pdf",
    params:
        splits=lambda wildcards: splits_of(wildcards.benchmark),
        methods=METHODS,
        edges=CALIBRATION["bin_edges"],
        min_count=CALIBRATION["min_bin_count"],
    log:
        "logs/{model}/{benchmark}/confidence_bins.log",
    benchmark:
        "benchmarks/confidence_bins/{model}/{benchmark}/confidence_bins.tsv"
    conda:
        ENV
    script:
        "../scripts/confidence_bins.py"


rule benchmark_bias:
    input:
        [
            output_path("{benchmark}/{split}/label_probs", benchmark=b, split=s)
            for b in SUBSET_BENCHMARKS
            for s in splits_of(b)
        ],
    output:
        table=output_path("benchmark_bias"),
        png=report(
            output_path("benchmark_bias_png"),
            caption="../report/benchmark_bias.rst",
            category="Benchmark bias",
            labels={"model": "{model}"},
        ),
        pdf="results/{model}/benchmark_bias.pdf",
    params:
        splits=[key for key in BENCHMARK_SPLITS if key.split("/")[0] in SUBSET_BENCHMARKS],
        text_only=TEXT_ONLY,
    log:
        "logs/{model}/benchmark_bias.log",
    benchmark:
        "benchmarks/benchmark_bias/{model}/benchmark_bias.tsv"
    conda:
        ENV
    script:
        "../scripts/benchmark_bias.py"
