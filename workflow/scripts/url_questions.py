"""One split of a `source: url` dataset as a question file, its images and a manifest (rule url_questions)."""

import json

from lvlm_debias.data.url_dataset import write_url_questions
from lvlm_debias.runlog import log_to

with log_to(snakemake.log[0]) as log:
    manifest = write_url_questions(
        json.loads(open(snakemake.input[0]).read()),
        snakemake.wildcards.split,
        snakemake.output.questions,
        snakemake.output.manifest,
        snakemake.params.root,
    )
    log.info("%d questions, %d files written", manifest["questions"], len(manifest["files"]))
