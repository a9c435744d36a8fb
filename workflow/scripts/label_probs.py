"""Every question of a benchmark split under every probe, gathered from the shards and the references
(rule label_probs)."""

import pandas as pd

from lvlm_debias.benchmarks import benchmark
from lvlm_debias.data.questions import load_questions, write_skipped
from lvlm_debias.runlog import log_to
from lvlm_debias.scoring.first_token import FirstToken
from lvlm_debias.scoring.gather import gather_first_token, gather_label_probs
from lvlm_debias.scoring.official import OfficialStore
from lvlm_debias.tables import write_csv

with log_to(snakemake.log[0]) as log:
    params = snakemake.params
    labels = list(benchmark(snakemake.wildcards.benchmark).labels)
    questions, bad = load_questions(snakemake.input.questions, params.image_root, labels, skip_bad=params.skip_bad)
    if bad:
        log.warning("%d bad records of %s left out (scoring.skip_bad_records)", len(bad), snakemake.input.questions)
    parts = [pd.read_csv(path) for path in [*snakemake.input.shards, snakemake.input.references]]
    table = gather_label_probs(parts, questions, params.probes)
    first_token = gather_first_token([FirstToken.load(p) for p in snakemake.input.first_token], questions)
    write_csv(table, snakemake.output.table)
    first_token.save(snakemake.output.first_token)
    if snakemake.output.get("official"):
        parts = [OfficialStore.load(p) for p in snakemake.input.official]
        OfficialStore.gather(parts, [q["question_id"] for q in questions]).save(snakemake.output.official)
    write_skipped(snakemake.output.meta, snakemake.input.questions, bad)
    log.info("%d rows for %d questions", len(table), len(questions))
