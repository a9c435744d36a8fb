"""A benchmark split answered by generation under every decoding method at one setting (rule contrastive_answers)."""

import torch

from lvlm_debias.analysis.generation import answer_frame
from lvlm_debias.benchmarks import answer_parser, benchmark
from lvlm_debias.data.questions import load_questions
from lvlm_debias.decoding.decode import decode_with_entry
from lvlm_debias.runlog import log_to
from lvlm_debias.tables import write_csv

with log_to(snakemake.log[0]) as log:
    torch.set_num_threads(snakemake.threads)
    params, wc = snakemake.params, snakemake.wildcards
    labels = list(benchmark(wc.benchmark).labels)
    records, _ = load_questions(snakemake.input.questions, params.image_root, labels, skip_bad=params.skip_bad)
    decoded = decode_with_entry(
        params.model_dir, params.model, records, params.image_root, wc.setting, params.decoding,
        sweep=params.sweep, summary=next(iter(snakemake.input.decoding), None), benchmark=wc.benchmark,
        max_new_tokens=params.max_new_tokens, batch_size=params.batch_size, seed=params.seed,
    )  # fmt: skip
    table = answer_frame(decoded, records, answer_parser(wc.benchmark, params.parser))
    write_csv(table, snakemake.output[0])
    log.info("answers per method and prediction:\n%s", table.groupby(["method", "prediction"]).size().to_string())
