"""A benchmark split answered by generation under every decoding method at one setting (rule contrastive_answers)."""

import pandas as pd
import torch

from lvlm_debias.analysis.generation import answer_frame
from lvlm_debias.benchmarks import answer_parser, benchmark
from lvlm_debias.data.questions import load_questions
from lvlm_debias.methods.decode import decode_with_entry, decoding_setting
from lvlm_debias.runlog import log_to
from lvlm_debias.tables import write_csv

with log_to(snakemake.log[0]) as log:
    torch.set_num_threads(snakemake.threads)
    params, wc = snakemake.params, snakemake.wildcards
    summary = pd.read_csv(snakemake.input.decoding[0]) if snakemake.input.decoding else None
    config = decoding_setting(wc.setting, params.sweep, summary, wc.benchmark)
    log.info("setting %s: %s", wc.setting, config.name)
    labels = list(benchmark(wc.benchmark).labels)
    records, _ = load_questions(snakemake.input.questions, params.image_root, labels, skip_bad=params.skip_bad)
    decoded = decode_with_entry(
        params.model_dir, params.model, records, params.image_root, wc.setting, config, params.decoding,
        max_new_tokens=params.max_new_tokens, batch_size=params.batch_size, seed=params.seed,
    )  # fmt: skip
    table = answer_frame(decoded, records, answer_parser(wc.benchmark, params.parser))
    write_csv(table, snakemake.output[0])
    log.info("answers per method and prediction:\n%s", table.groupby(["method", "prediction"]).size().to_string())
