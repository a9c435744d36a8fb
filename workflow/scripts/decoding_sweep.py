"""Expected and sampled metrics of one benchmark split under every decoding configuration (rule decoding_sweep)."""

import pandas as pd
import torch

from lvlm_debias.analysis.sweep import sweep_configs, sweep_questions, sweep_split
from lvlm_debias.benchmarks import answer_parser, benchmark
from lvlm_debias.data.questions import load_questions
from lvlm_debias.models.load import load_entry
from lvlm_debias.runlog import log_to
from lvlm_debias.scoring.continuation import Continuations
from lvlm_debias.scoring.first_token import FirstToken
from lvlm_debias.scoring.score import token_label_index
from lvlm_debias.tables import write_csv

with log_to(snakemake.log[0]) as log:
    torch.set_num_threads(snakemake.threads)
    params, wc = snakemake.params, snakemake.wildcards
    spec = benchmark(wc.benchmark)
    scores = pd.read_csv(snakemake.input.table)
    answers = scores[scores["probe"] == "naive"].set_index("question_id")[["label", "subset", "pair"]]
    first_token = FirstToken.load(snakemake.input.first_token)
    model, processor = load_entry(params.model_dir, params.model)
    records, _ = load_questions(
        snakemake.input.questions, params.image_root, list(spec.labels), skip_bad=params.skip_bad
    )
    questions = {q["question_id"]: q for q in records}
    continuations = Continuations.for_questions(
        model,
        processor,
        [questions[qid] for qid in answers.index],
        params.image_root,
        params.model["prompt"],
        first_token.select(answers.index).top_ids,
        params.seed,
        params.settings.get("max_new_tokens", 16),
        params.batch_size,
    )
    parse = answer_parser(wc.benchmark, params.parser)
    _, configs = sweep_configs(params.settings)
    token_labels = token_label_index(processor, spec.labels).numpy()
    table = sweep_split(
        wc.benchmark,
        answers,
        first_token,
        token_labels,
        configs,
        params.seed,
        parse,
        continuations,
    )
    write_csv(table, snakemake.output.table)
    write_csv(sweep_questions(wc.benchmark, answers, first_token, token_labels, configs), snakemake.output.questions)
    log.info("\n%s", table.to_string(index=False))
