"""Download one `source: hub` model into the HF cache and write its manifest last (rule hub_model)."""

import os

# before huggingface_hub is imported (it reads this once): download jobs alone may reach the hub
os.environ["HF_HUB_OFFLINE"] = "0" if snakemake.params.fetch else "1"

from lvlm_debias.models.download import download_model  # noqa: E402
from lvlm_debias.runlog import log_to  # noqa: E402

with log_to(snakemake.log[0]) as log:
    entry = snakemake.params.entry
    manifest = download_model(
        entry["repo"],
        snakemake.output[0],
        revision=entry.get("revision"),
        trust_remote_code=entry["trust_remote_code"],
        fetch=snakemake.params.fetch,
    )
    size = sum(f["size"] for f in manifest["files"])
    log.info("%s at %s: %d files, %.2f GB in %s", entry["repo"], manifest["commit"], len(manifest["files"]),
             size / 1e9, manifest["snapshot"])  # fmt: skip
