"""Download one `datasets` entry's files into the HF cache, from its repo or else the first of its `mirrors` that is
found, and write their manifest last (rule hub_dataset)."""

import os

# before huggingface_hub is imported (it reads this once): download jobs alone may reach the hub
os.environ["HF_HUB_OFFLINE"] = "0" if snakemake.params.fetch else "1"

from lvlm_debias.models.download import download_first  # noqa: E402
from lvlm_debias.runlog import log_to  # noqa: E402

with log_to(snakemake.log[0]) as log:
    entry = snakemake.params.entry
    manifest = download_first(
        [entry["repo"], *entry.get("mirrors", [])],
        snakemake.output[0],
        revision=entry.get("revision"),
        repo_type="dataset",
        allow_patterns=[entry["files"].format(split="*")],
        fetch=snakemake.params.fetch,
    )
    log.info("%s (for %s) at %s: %d files", manifest["repo"], entry["repo"], manifest["commit"], len(manifest["files"]))
