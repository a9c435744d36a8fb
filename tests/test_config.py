"""Config validation: the schema and the consistency checks stop a bad config before any job, naming the key."""

import copy
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from lvlm_debias.config import ConfigError, check_config

SCHEMA = str(ROOT / "config" / "schema.yaml")


def test_default_config_is_valid(default_config):
    validate(default_config, SCHEMA)
    check_config(default_config)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda c: c["world"].update(colour_count=3), "colour_count"),
        (lambda c: c.update(sed=1), "sed"),
        (lambda c: c["models"]["shapes-llava"]["prior"].update(yes_rate=1.5), "yes_rate"),
        (lambda c: c["models"]["shapes-llava"]["training"].update(batch_size=0), "batch_size"),
        (lambda c: c["benchmarks"]["pope"].update(splits=["random", "hardest"]), "splits"),
        (lambda c: c["scoring"].update(top_k="many"), "top_k"),
        (lambda c: c["models"]["shapes-llava"].update(prompt="USER: {question} ASSISTANT:"), "prompt"),
        (lambda c: c["calibration"].update(references=["none", "vdd"]), "references"),
        (lambda c: c["scoring"].update(shards=0), "shards"),
        (lambda c: c["sweep"].update(temperatures=[0.0, 1.0]), "temperatures"),
        (lambda c: c["sweep"].update(top_ps=[1.5]), "top_ps"),
        (lambda c: c["sweep"]["default"].update(top_p=0), "top_p"),
        (lambda c: c["sweep"].update(parser="gpt4"), "parser"),
        (lambda c: c["benchmarks"]["mme"].update(subtasks=["ocr"]), "subtasks"),
        (lambda c: c["benchmarks"].update(vqav2={"dataset": "shapes_world"}), "vqav2"),
        (lambda c: c["prior_probing"]["questions"].append({"text": "What colour is it?"}), "absent"),
    ],
)
def test_schema_names_the_bad_key(default_config, change, named):
    config = copy.deepcopy(default_config)
    change(config)
    with pytest.raises(WorkflowError) as err:
        validate(config, SCHEMA)
    assert named in str(err.value)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda c: c["world"].update(scenes=[["circle", "ring"]], scene_weights=[1.0]), "ring"),
        (lambda c: c["world"].update(scene_weights=[0.5, 0.5]), "scene_weights"),
        (lambda c: c["models"]["shapes-llava"]["prior"].update(colour="cyan"), "prior.colour"),
        (lambda c: c["models"]["shapes-llava"]["architecture"].update(patch_size=7), "patch_size"),
        (lambda c: c["benchmarks"]["pope"].update(n_images=10_000), "benchmarks.pope.n_images"),
        (lambda c: c["benchmarks"]["mmmu"].update(n_images=10_000), "benchmarks.mmmu.n_images"),
        (lambda c: c["models"]["shapes-llava"]["training"].update(text_replay=0.6, caption_share=0.5), "caption_share"),
    ],
)
def test_consistency_checks_name_the_key(default_config, change, named):
    config = copy.deepcopy(default_config)
    change(config)
    validate(config, SCHEMA)
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        check_config(config)


def test_snakemake_stops_before_any_job(default_config, tmp_path):
    config = copy.deepcopy(default_config)
    config["models"]["shapes-llava"]["prior"]["yes_rate"] = -0.1
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "--cores",
            "1",
            "--configfile",
            str(bad),
            "--directory",
            str(tmp_path),
            "--snakefile",
            str(ROOT / "Snakefile"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "yes_rate" in result.stdout + result.stderr
    assert not (tmp_path / "data").exists()
