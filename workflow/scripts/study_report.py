"""The study report, results/study/report.html (rule study_report)."""

import pandas as pd

from lvlm_debias.report.study import model_rows, render_study_report
from lvlm_debias.runlog import log_to

with log_to(snakemake.log[0]) as log:
    inp = snakemake.input
    findings = render_study_report(
        snakemake.output[0],
        snakemake.params.study,
        pd.read_csv(inp.study),
        pd.read_csv(inp.gain),
        pd.read_csv(inp.confidence),
        inp.figure,
        model_rows(snakemake.params.models),
        {"study": inp.study, "gain": inp.gain, "confidence": inp.confidence},
    )
    for line in findings:
        log.info("%s", line)
