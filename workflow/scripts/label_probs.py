"""Every question of a benchmark split under every probe, gathered from the shards and the references
(rule label_probs)."""

import pandas as pd

from lvlm_debias.data.jsonl import read_jsonl
from lvlm_debias.runlog import log_to
from lvlm_debias.scoring.first_token import FirstToken
from lvlm_debias.scoring.gather import gather_first_token, gather_label_probs
from lvlm_debias.tables import write_csv

with log_to(snakemake.log[0]) as log:
    questions = read_jsonl(snakemake.input.questions)
    parts = [pd.read_csv(path) for path in [*snakemake.input.shards, snakemake.input.references]]
    table = gather_label_probs(parts, questions, snakemake.params.probes)
    first_token = gather_first_token([FirstToken.load(p) for p in snakemake.input.first_token], questions)
    write_csv(table, snakemake.output.table)
    first_token.save(snakemake.output.first_token)
    log.info("%d rows for %d questions", len(table), len(questions))
