# lvlm-debias: reproduce "Debiasing Multimodal Large Language Models" (arXiv 2403.05262) end to end.
# Embedded default: `snakemake --cores all` (config.yaml). Other configs: `--configfile config/<name>.yaml`.
import os
from pathlib import Path

import yaml

from snakemake.utils import min_version, validate

min_version("9.0")


# The embedded default, unless --configfile names a config: Snakemake would otherwise deep-merge that file into
# config.yaml (the paper config would inherit the embedded model and ShapesWorld benchmarks).
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


# Jobs import the library from this checkout, in the venv and in the conda envs alike.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(Path(workflow.basedir) / "src"), os.environ.get("PYTHONPATH")) if p
)
# Set before the library is imported (huggingface_hub reads it then), so before `validate` fills in the default.
SCHEMA = Path(workflow.basedir) / "config/schema.yaml"
OFFLINE = config.get("offline", yaml.safe_load(SCHEMA.read_text())["properties"]["offline"]["default"])
os.environ["HF_HUB_OFFLINE"] = "1" if OFFLINE else os.environ.get("HF_HUB_OFFLINE", "0")


# Declared so that Snakemake passes them on to every job, on a cluster too (and `snakemake --lint` is clean).
envvars:
    "PYTHONPATH",
    "HF_HUB_OFFLINE",


from lvlm_debias.config import check_config, check_schema  # noqa: E402

check_schema(config, SCHEMA)  # every bad key at once, with allowed values
validate(config, "config/schema.yaml")  # fills in the schema's defaults
check_config(config)


include: "workflow/rules/common.smk"
include: "workflow/rules/shapes_world.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/scoring.smk"
include: "workflow/rules/calibration.smk"
include: "workflow/rules/prior.smk"
include: "workflow/rules/sweep.smk"
include: "workflow/rules/generation.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/attention.smk"


# The controlled study (config/study.yaml, `make study`): its rules, and its outputs as the default target.
if "study" in config:

    include: "workflow/rules/study.smk"


rule all:
    input:
        final_outputs(),
    default_target: True
