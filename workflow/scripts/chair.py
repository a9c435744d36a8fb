"""CHAIR per decoding method and setting, its figure, and the captions the report shows (rule chair)."""

import pandas as pd

from lvlm_debias.analysis.generation import chair_per_caption, chair_table, marked_captions
from lvlm_debias.plots.figures import save_figure
from lvlm_debias.plots.generation import chair_figure
from lvlm_debias.report.samples import caption_samples
from lvlm_debias.runlog import log_to
from lvlm_debias.tables import write_csv, write_json

with log_to(snakemake.log[0]) as log:
    params = snakemake.params
    vocabulary = params.captions["objects"]
    captions = pd.concat([pd.read_csv(path) for path in snakemake.input.captions], ignore_index=True)
    table = chair_table(captions, vocabulary)
    write_csv(table, snakemake.output.table)
    write_csv(chair_per_caption(captions, vocabulary), snakemake.output.per_caption)
    save_figure(chair_figure(table, snakemake.wildcards.model), snakemake.output.png, snakemake.output.pdf)
    settings = list(dict.fromkeys(captions["setting"]))
    samples = {
        setting: caption_samples(
            marked_captions(captions, vocabulary, setting, params.captions["samples"]), params.image_root
        )
        for setting in settings
    }
    write_json(samples, snakemake.output.samples)
    log.info("\n%s", table.to_string(index=False))
