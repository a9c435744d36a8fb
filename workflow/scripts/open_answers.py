"""Open-ended answers (LLaVA-Bench) under every decoding method at one decoding setting (rule open_answers)."""

import torch

from lvlm_debias.analysis.open_ended import open_answer_frame
from lvlm_debias.data.questions import load_questions
from lvlm_debias.decoding.decode import decode_with_entry
from lvlm_debias.runlog import log_to
from lvlm_debias.tables import write_csv

with log_to(snakemake.log[0]) as log:
    torch.set_num_threads(snakemake.threads)
    params, wc = snakemake.params, snakemake.wildcards
    records, _ = load_questions(snakemake.input.questions, params.image_root)
    settings = params.open_ended
    decoded = decode_with_entry(
        params.model_dir, params.model, records, params.image_root, wc.setting, params.decoding,
        sweep=params.sweep, summary=next(iter(snakemake.input.decoding), None), benchmark=params.benchmark,
        max_new_tokens=settings["max_new_tokens"], batch_size=settings["batch_size"],
        seed=params.seed,
    )  # fmt: skip
    table = open_answer_frame(decoded, records)
    write_csv(table, snakemake.output[0])
    log.info("\n%s", table.groupby("method", sort=False)["answer"].first().to_string())
