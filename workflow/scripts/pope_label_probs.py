"""First-position yes/no probabilities for every POPE question under each probe (rule pope_label_probs)."""

import torch

from lvlm_debias.data.jsonl import read_jsonl
from lvlm_debias.models.load import load_model
from lvlm_debias.runlog import log_to
from lvlm_debias.scoring.score import YES_NO, score_questions
from lvlm_debias.tables import write_csv

with log_to(snakemake.log[0]) as log:
    torch.set_num_threads(snakemake.threads)
    entry, scoring = snakemake.params.model, snakemake.params.scoring
    model, processor = load_model(
        snakemake.params.model_dir,
        revision=entry.get("revision"),
        dtype=entry.get("dtype", "auto"),
        device=entry.get("device", "auto"),
        trust_remote_code=entry.get("trust_remote_code", False),
    )
    scores, passes = score_questions(
        model,
        processor,
        read_jsonl(snakemake.input.questions),
        snakemake.params.image_root,
        template=entry["prompt"],
        labels=YES_NO,
        top_k=scoring.get("top_k", 100),
        batch_size=scoring.get("batch_size", 64),
    )
    write_csv(scores, snakemake.output[0])
    log.info("forward passes per probe: %s", passes)
