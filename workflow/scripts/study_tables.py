"""The study's tables: metrics per model and level, gains with intervals, gains by naive confidence (rule
study_tables)."""

from lvlm_debias.analysis.study import study_tables
from lvlm_debias.runlog import log_to
from lvlm_debias.tables import write_csv

with log_to(snakemake.log[0]):
    params, out = snakemake.params, snakemake.output
    table, gain, confidence = study_tables(
        list(snakemake.input),
        params.methods,
        resamples=params.resamples,
        seed=params.seed,
        edges=params.edges,
        min_count=params.min_count,
    )
    write_csv(table, out.study)
    write_csv(gain, out.gain)
    write_csv(confidence, out.confidence)
