"""One split of a downloaded dataset as a question file, its images and a manifest (rule hub_questions)."""

import json

from lvlm_debias.benchmarks import converter
from lvlm_debias.data.convert import write_hub_questions
from lvlm_debias.runlog import log_to

with log_to(snakemake.log[0]) as log:
    entry = snakemake.params.entry
    manifest = write_hub_questions(
        converter(entry["format"]),
        entry["files"],
        json.loads(open(snakemake.input[0]).read()),
        snakemake.wildcards.split,
        snakemake.output.questions,
        snakemake.output.manifest,
        snakemake.params.root,
    )
    log.info("%d questions, %d files written; left out: %s", manifest["questions"], len(manifest["files"]),
             manifest["skipped"] or "none")  # fmt: skip
