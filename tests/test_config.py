"""Config validation: the schema and the consistency checks stop a bad config before any job, naming the key."""

import copy
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from lvlm_debias.config import ConfigError, check_config, check_schema

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
        (lambda c: c["benchmarks"]["pope"].update(parser="gpt4"), "parser"),
        (lambda c: c["benchmarks"]["mmmu"].update(parser="vcd"), "parser"),
        (lambda c: c["benchmarks"]["mme"].update(subtasks=["ocr"]), "subtasks"),
        (lambda c: c["benchmarks"].update(vqav2={"dataset": "shapes_world"}), "vqav2"),
        (lambda c: c["prior_probing"]["questions"].append({"text": "What colour is it?"}), "absent"),
        (lambda c: c["generation"].update(alpha=-0.5), "alpha"),
        (lambda c: c["generation"].update(beta=0), "beta"),
        (lambda c: c["generation"].update(beta=1.5), "beta"),
        (lambda c: c["generation"].update(methods=["naive", "dola"]), "methods"),
        (lambda c: c["generation"].update(settings=["fastest"]), "settings"),
        (lambda c: c["generation"]["captions"]["objects"].update(star="stars"), "objects"),
        (lambda c: c["generation"]["classification"].update(max_new_tokens=0), "max_new_tokens"),
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
        (lambda c: c["generation"]["captions"].update(n_images=10_000), "generation.captions.n_images"),
        (
            lambda c: c["models"]["shapes-llava"]["training"].update(text_replay=0.5, caption_replay=0.5),
            "caption_replay",
        ),
        (lambda c: c["generation"]["captions"]["objects"].pop("star"), "objects lacks the world's shapes"),
        (lambda c: c["generation"]["captions"]["objects"].update(moon=["stars"]), "generation.captions.objects"),
        (lambda c: c["generation"]["classification"].update(benchmarks=["pope", "vqav2"]), "vqav2"),
        (lambda c: c.pop("sweep"), "generation.settings 'best' needs the sweep"),
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


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # misspelt keys, with the allowed keys and the nearest one
        (lambda c: c.update(sed=1), ["sed: unknown key (did you mean 'seed'?)", "'offline'"]),
        (lambda c: c["sweep"].update(temperature=[1.0]), ["sweep.temperature: unknown key in sweep", "'temperatures'"]),
        # wrong types
        (lambda c: c["scoring"].update(top_k="many"), ["scoring.top_k: 'many' is not of type 'integer'"]),
        (lambda c: c["sweep"].update(temperatures=0.5), ["sweep.temperatures: 0.5 is not of type 'array'"]),
        # out of range
        (lambda c: c["sweep"].update(temperatures=[0.0]), ["sweep.temperatures[0]: 0.0 is less than or equal to"]),
        (lambda c: c["sweep"]["default"].update(top_p=0), ["sweep.default.top_p: 0 is less than or equal to"]),
        (lambda c: c["sweep"].update(top_ps=[1.5]), ["sweep.top_ps[0]: 1.5 is greater than the maximum of 1"]),
        (lambda c: c["scoring"].update(shards=0), ["scoring.shards: 0 is less than the minimum of 1"]),
        # unknown method and benchmark names
        (
            lambda c: c["calibration"].update(references=["none", "vdd"]),
            ["calibration.references[1]: 'vdd' is not allowed; allowed values: ['none', 'unk', 'both'"],
        ),
        (
            lambda c: c["benchmarks"].update(vqav2={}),
            ["benchmarks.vqav2: unknown key", "['mme', 'mmmu', 'pope', 'pope_aokvqa', 'pope_coco', 'pope_gqa']"],
        ),
        (
            lambda c: c["benchmarks"]["mme"].update(parser="gpt4"),
            ["benchmarks.mme.parser: 'gpt4' is not allowed; allowed values: ['mme', 'vcd', 'llava']"],
        ),
        # a key that moved says where to
        (lambda c: c["sweep"].update(parser="vcd"), ["sweep.parser: moved to benchmarks.<name>.parser"]),
    ],
)
def test_check_schema_names_the_key_and_the_allowed_values(default_config, change, expected):
    """Checked to fail without the protection: with the Snakefile's check_schema call removed, Snakemake's own message
    lists neither the allowed keys nor the nearest one."""
    config = copy.deepcopy(default_config)
    change(config)
    with pytest.raises(ConfigError) as err:
        check_schema(config, SCHEMA)
    for part in expected:
        assert part in str(err.value)


def test_check_schema_lists_every_problem_at_once(default_config):
    config = copy.deepcopy(default_config)
    config["scoring"]["shards"] = 0
    config["benchmarks"]["pope"]["parser"] = "gpt4"
    with pytest.raises(ConfigError, match=r"2 problem\(s\)") as err:
        check_schema(config, SCHEMA)
    assert "scoring.shards" in str(err.value) and "benchmarks.pope.parser" in str(err.value)
    check_schema(default_config, SCHEMA)


def test_hub_sources_are_checked(default_config):
    """A benchmark on a dataset that is neither shapes_world nor a `datasets` entry, and a `source: hub` model
    without `repo`, are named before any job. Checked to fail without check_sources: both configs passed."""
    from lvlm_debias.config import check_config

    config = copy.deepcopy(default_config)
    config["benchmarks"]["pope"]["dataset"] = "pope_coco"
    with pytest.raises(ConfigError, match="benchmarks.pope.dataset 'pope_coco' is neither"):
        check_config(config)
    config = copy.deepcopy(default_config)
    config["models"]["hub-model"] = {"source": "hub", "prompt": "<image> {question}"}
    with pytest.raises(ConfigError, match="models.hub-model: source 'hub' needs `repo`"):
        check_config(config)
