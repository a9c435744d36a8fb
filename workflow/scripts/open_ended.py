"""Open-ended answers summarised per setting and method, and the answers the report shows side by side (rule
open_ended)."""

import pandas as pd

from lvlm_debias.analysis.open_ended import open_summary, side_by_side
from lvlm_debias.report.samples import open_samples
from lvlm_debias.runlog import log_to
from lvlm_debias.tables import write_csv, write_json

with log_to(snakemake.log[0]) as log:
    params = snakemake.params
    answers = pd.concat([pd.read_csv(path, keep_default_na=False) for path in snakemake.input.answers])
    table = open_summary(answers)
    write_csv(table, snakemake.output.table)
    chosen = side_by_side(answers, params.open_ended["samples"])
    write_json({s: open_samples(rows, params.image_root) for s, rows in chosen.items()}, snakemake.output.samples)
    log.info("\n%s", table.to_string(index=False))
