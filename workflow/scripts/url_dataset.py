"""Fetch one `source: url` dataset's question files and image zip, and write their manifest last (rule url_dataset)."""

from lvlm_debias.data.url_dataset import download_url_dataset
from lvlm_debias.runlog import log_to

with log_to(snakemake.log[0]) as log:
    manifest = download_url_dataset(
        snakemake.params.entry,
        snakemake.params.splits,
        snakemake.params.root,
        snakemake.output[0],
        allow_fetch=snakemake.params.fetch,
    )
    for item in manifest["files"]:
        log.info("%s: %s (%d bytes, sha256 %s)", item["url"], item["path"], item["size"], item["sha256"])
