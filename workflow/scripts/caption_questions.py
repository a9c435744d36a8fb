"""One "Describe the image." question per evaluation image, with its ground-truth objects (rule caption_questions)."""

from lvlm_debias.data.jsonl import read_jsonl, write_jsonl
from lvlm_debias.runlog import log_to
from lvlm_debias.world.captions import caption_questions

with log_to(snakemake.log[0]) as log:
    records = caption_questions(read_jsonl(snakemake.input.annotations), snakemake.params.n_images)
    write_jsonl(snakemake.output[0], records)
    log.info("%d caption questions", len(records))
