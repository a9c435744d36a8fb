"""POPE-style questions for one negative-sampling split (rule pope_questions)."""

from lvlm_debias.data.jsonl import read_jsonl, write_jsonl
from lvlm_debias.data.pope import build_pope
from lvlm_debias.runlog import log_to

with log_to(snakemake.log[0]) as log:
    params = snakemake.params
    split = snakemake.wildcards.split
    records = build_pope(
        read_jsonl(snakemake.input.annotations),
        split,
        params.seed,
        n_images=params.n_images,
        max_positives=params.max_positives,
    )
    write_jsonl(snakemake.output[0], records)
    log.info("%d questions for split %s", len(records), split)
