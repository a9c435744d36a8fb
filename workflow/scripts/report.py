"""The self-contained HTML report (rule report)."""

import pandas as pd

from lvlm_debias.benchmarks import benchmark
from lvlm_debias.data.jsonl import read_jsonl
from lvlm_debias.report.paper import load_paper_numbers
from lvlm_debias.report.provenance import job_times, provenance, skipped_records
from lvlm_debias.report.render import load_sections, render_report
from lvlm_debias.report.samples import sample_cards
from lvlm_debias.runlog import log_to

with log_to(snakemake.log[0]):
    params = snakemake.params
    settings = params.samples
    samples = {
        model: sample_cards(
            pd.read_csv(outputs["samples/label_probs"]),
            read_jsonl(outputs["samples/questions"]),
            settings["image_root"],
            list(benchmark(settings["benchmark"]).labels),
            settings["n"],
        )
        for model, outputs in params.outputs.items()
        if "samples/label_probs" in outputs
    }
    claims, numbers, regime = load_paper_numbers(params.paper_numbers)
    facts = provenance(params.root, params.config)
    facts["question records skipped (scoring.skip_bad_records)"] = skipped_records(params.outputs)
    sections = load_sections(params.models, params.outputs, params.model_dirs, params.paper_names, samples)
    render_report(
        snakemake.output[0],
        params.config,
        sections,
        facts,
        job_times(params.benchmarks),
        claims,
        numbers,
        regime,
    )
