"""The questions of one benchmark split (rule benchmark_questions)."""

from lvlm_debias.benchmarks import build_questions
from lvlm_debias.data.jsonl import read_jsonl, write_jsonl
from lvlm_debias.runlog import log_to

with log_to(snakemake.log[0]) as log:
    wc = snakemake.wildcards
    records = build_questions(
        wc.benchmark,
        read_jsonl(snakemake.input.annotations),
        wc.split,
        snakemake.params.settings,
        snakemake.params.seed,
    )
    write_jsonl(snakemake.output[0], records)
    log.info("%d questions for %s/%s", len(records), wc.benchmark, wc.split)
