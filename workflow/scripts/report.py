"""The self-contained HTML report (rule report)."""

from lvlm_debias.report.provenance import job_times, provenance
from lvlm_debias.report.render import load_sections, render_report
from lvlm_debias.runlog import log_to

with log_to(snakemake.log[0]):
    params = snakemake.params
    sections = load_sections(params.models, params.outputs, params.model_dirs)
    render_report(
        snakemake.output[0],
        params.config,
        sections,
        provenance(params.root, params.config),
        job_times(params.benchmarks),
    )
