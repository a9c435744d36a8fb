"""Attention to system, image and question tokens, per layer and per generation step (rule attention)."""

import torch

from lvlm_debias.data.jsonl import read_jsonl
from lvlm_debias.plots.attention import attention_figure, attention_generation_figure
from lvlm_debias.plots.figures import save_figure
from lvlm_debias.runlog import log_to
from lvlm_debias.scoring.attention import attention_with_entry
from lvlm_debias.tables import write_csv

with log_to(snakemake.log[0]) as log:
    torch.set_num_threads(snakemake.threads)
    params, output = snakemake.params, snakemake.output
    tables = attention_with_entry(
        params.model_dir,
        params.model,
        read_jsonl(snakemake.input.questions),
        params.image_root,
        params.settings,
        params.seed,
    )
    write_csv(tables.layers, output.table)
    write_csv(tables.tokens, output.tokens)
    write_csv(tables.questions, output.questions)
    write_csv(tables.generation, output.generation)
    write_csv(tables.samples, output.generation_samples)
    save_figure(attention_figure(tables.layers), output.png, output.pdf)
    save_figure(attention_generation_figure(tables.generation), output.generation_png, output.generation_pdf)
    log.info("\n%s", tables.layers.to_string(index=False))
    log.info("\n%s", tables.tokens.to_string(index=False))
    log.info("generated descriptions:\n%s", "\n".join(tables.texts))
