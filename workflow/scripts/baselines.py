"""Every classification method of a yes/no benchmark beside its null baselines, from each split's label
probabilities and logit cache, and its answers by generation where it has them (rule baselines)."""

from lvlm_debias.analysis.baselines import baselines_from_files
from lvlm_debias.runlog import log_to

with log_to(snakemake.log[0]):
    generated = {}
    for split, path in zip(snakemake.params.generated_splits, snakemake.input.generated, strict=True):
        generated.setdefault(split, []).append(path)
    baselines_from_files(
        dict(zip(snakemake.params.splits, snakemake.input.label_probs, strict=True)),
        dict(zip(snakemake.params.splits, snakemake.input.logits, strict=True)),
        snakemake.params.settings,
        snakemake.params.seed,
        snakemake.output[0],
        generated,
    )
