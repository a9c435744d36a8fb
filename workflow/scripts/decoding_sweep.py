"""Expected and sampled metrics of one benchmark split under every decoding configuration (rule decoding_sweep)."""

import pandas as pd
import torch

from lvlm_debias.analysis.sweep import sweep_with_entry
from lvlm_debias.benchmarks import answer_parser
from lvlm_debias.runlog import log_to
from lvlm_debias.scoring.first_token import FirstToken
from lvlm_debias.tables import write_csv

with log_to(snakemake.log[0]) as log:
    torch.set_num_threads(snakemake.threads)
    params, wc = snakemake.params, snakemake.wildcards
    table, questions = sweep_with_entry(
        params.model_dir,
        params.model,
        wc.benchmark,
        pd.read_csv(snakemake.input.table),
        FirstToken.load(snakemake.input.first_token),
        snakemake.input.questions,
        params.image_root,
        params.settings,
        answer_parser(wc.benchmark, params.parser),
        seed=params.seed,
        batch_size=params.batch_size,
        skip_bad=params.skip_bad,
    )
    write_csv(table, snakemake.output.table)
    write_csv(questions, snakemake.output.questions)
    log.info("\n%s", table.to_string(index=False))
