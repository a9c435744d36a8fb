"""The outputs registry (lvlm_debias.outputs): one definition per output, read by rule all, the rules and the report."""

from __future__ import annotations

import copy
import re
import string
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from lvlm_debias.analysis.calibration import probes_for
from lvlm_debias.outputs import (
    EACH,
    FILES,
    OUTPUTS,
    PATHS,
    REPORT_HTML,
    STUDY_PATHS,
    Run,
    output_path,
    outputs_for,
    study_path,
)
from lvlm_debias.report.blocks import BLOCKS
from lvlm_debias.report.checks import CHECKS
from lvlm_debias.report.paper import BESIDE

ROOT = Path(__file__).resolve().parents[1]
#: where the report reads outputs apart from its blocks: the sample browser and the provenance facts
ELSEWHERE = {"samples", "provenance"}
BLOCK_KEYS = [key for row in BLOCKS for key in row]


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _run(configfile: str) -> Run:
    config = yaml.safe_load((ROOT / configfile).read_text())
    validate(config, str(ROOT / "config" / "schema.yaml"))
    return Run.from_config(config, probes_for(["naive", *config["calibration"]["references"]]))


def test_keys_are_unique_and_paths_are_spelt_once():
    keys = [o.key for o in OUTPUTS] + list(FILES)
    assert len(keys) == len(set(keys)) == len(PATHS)
    paths = [o.path for o in OUTPUTS if not o.key.startswith("samples/")] + list(FILES.values())
    assert len(paths) == len(set(paths)), "two keys name the same path"


@pytest.mark.parametrize("output", OUTPUTS, ids=lambda o: o.key)
def test_every_output_names_its_wildcards(output):
    """The key's wildcards are the path's (besides the model, and the dataset folder of a question file), and are
    what the output is made for gives."""
    assert output.each in EACH
    assert "model" in _fields(output.path) or output.path.startswith("data/")
    given = set().union(*({*w} for w in EACH[output.each](_run("config/paper.yaml"))))
    assert _fields(output.key) <= given
    assert _fields(output.path) - {"model"} <= given


def test_every_block_is_built_by_the_report_and_read_from_outputs():
    """Each output's block is one the report builds (or the sample browser / provenance); each block of the report
    and of a paper check reads at least one output."""
    named = {o.block for o in OUTPUTS}
    assert None not in named, "say which part of the report reads each output"
    assert named - ELSEWHERE == set(BLOCK_KEYS)
    checked = {block.replace("pope/", "{benchmark}/") for block, _ in CHECKS.values()}
    assert checked <= set(BLOCK_KEYS)
    for row in BLOCKS:  # a row is all per-benchmark blocks or all per-model ones
        assert len({"{benchmark}" in key for key in row}) == 1


def test_the_published_numbers_stand_beside_outputs():
    assert {output for output, _ in BESIDE.values()} <= set(PATHS)


#: report sources that read outputs by key
READERS = [*sorted((ROOT / "src" / "lvlm_debias" / "report").glob("*.py")), ROOT / "workflow" / "scripts" / "report.py"]


@pytest.mark.parametrize("output", OUTPUTS, ids=lambda o: o.key)
def test_every_output_is_read_by_the_report(output):
    """The key's last fixed part ("calibration_by_subset", "label_probs_meta", "samples/questions") is looked up
    by the report's code."""
    fixed = [part for part in output.key.split("/") if not _fields(part)]
    name = (
        output.key if output.key.startswith("samples/") else fixed[-1] if output.each != "classification" else fixed[0]
    )
    pattern = re.compile(rf"[\"'/]{re.escape(name)}[\"']")
    assert any(pattern.search(path.read_text()) for path in READERS), f"nothing in the report reads {output.key!r}"


@pytest.mark.parametrize("output", OUTPUTS, ids=lambda o: o.key)
def test_every_output_is_made_by_a_shipped_config(output):
    """rule all requests each output for config.yaml or config/paper.yaml (no dead entry)."""
    runs = [_run("config.yaml"), _run("config/paper.yaml")]
    assert any(output.when(run, w) for run in runs for w in EACH[output.each](run))


def _literals(text: str) -> list[str]:
    """The string literals of a Snakefile, double braces (escaped wildcards) made single."""
    found = re.findall(r"""[rfb]*"((?:[^"\\\n]|\\.)*)"|[rfb]*'((?:[^'\\\n]|\\.)*)'""", text)
    return [(a or b).replace("{{", "{").replace("}}", "}") for a, b in found]


def _shape(template: str) -> str:
    return re.sub(r"\{[^{}]*\}", "*", template)


SNAKEFILES = [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]


@pytest.mark.parametrize("snakefile", SNAKEFILES, ids=lambda p: p.name)
def test_no_rule_spells_an_output_path(snakefile):
    """No string in the workflow's rules is an output's path template again (its wildcards named anything), nor
    ends in an output's file name: they ask ``output_path`` (or ``QUESTIONS``, ``REPORT_HTML``, the study's
    ``study_path``) for it."""
    every = {**PATHS, "REPORT_HTML": REPORT_HTML, **{f"study: {k}": p for k, p in STUDY_PATHS.items()}}
    shapes = {_shape(path): key for key, path in every.items()}
    names = {path.rsplit("/", 1)[1]: key for key, path in PATHS.items() if not _fields(path.rsplit("/", 1)[1])}
    spelt = []
    for literal in _literals(snakefile.read_text()):
        if _shape(literal) in shapes:
            spelt.append(f"{literal!r} is {shapes[_shape(literal)]!r}")
        elif "/" in literal and literal.rsplit("/", 1)[1] in names:
            spelt.append(f"{literal!r} ends like {names[literal.rsplit('/', 1)[1]]!r}")
    assert not spelt, f"{snakefile.name} spells output paths: {spelt}"


def test_the_literal_check_sees_a_spelt_path():
    text = (
        'rule x:\n    input:\n        f"results/{{model}}/{key}/label_probs.csv",\n        "results/{m}/decoding.csv"\n'
    )
    literals = _literals(text)
    assert literals == ["results/{model}/{key}/label_probs.csv", "results/{m}/decoding.csv"]
    assert _shape(literals[1]) == _shape(PATHS["decoding"])
    assert literals[0].rsplit("/", 1)[1] == PATHS["{benchmark}/{split}/label_probs"].rsplit("/", 1)[1]


def test_output_path_fills_the_given_wildcards_only():
    assert output_path("{benchmark}/calibration") == "results/{model}/{benchmark}/calibration.csv"
    assert output_path("{benchmark}/calibration", benchmark="pope") == "results/{model}/pope/calibration.csv"
    assert output_path("{benchmark}/shards/{shard}", shard=0) == "results/{model}/{benchmark}/shards/0.csv"
    with pytest.raises(KeyError):
        output_path("calibration")


def test_outputs_follow_the_config():
    """config.yaml's run: per benchmark its outputs, then its splits', then the model's; an output whose predicate
    fails is left out (MMMU has no official reading; without a sweep, no decoding outputs)."""
    run = _run("config.yaml")
    keys = list(outputs_for(run, "m"))
    assert keys[:5] == [
        "pope/calibration",
        "pope/calibration_by_subset",
        "pope/calibration_png",
        "pope/confidence_bins",
        "pope/confidence_bins_png",
    ]
    assert keys.index("pope/adversarial/label_probs") < keys.index("mme/calibration") < keys.index("decoding")
    assert "pope/readings" in keys and "mmmu/readings" not in keys
    assert "contrastive/pope/random/best" in keys
    paths = outputs_for(run, "m")
    assert paths["samples/questions"] == "data/shapes_world/pope/random.jsonl"
    assert paths["samples/label_probs"] == paths["pope/random/label_probs"] == "results/m/pope/random/label_probs.csv"
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    for section in ("sweep", "attention"):
        config = copy.deepcopy(config)
        del config[section]
    validate(config, str(ROOT / "config" / "schema.yaml"))
    fewer = outputs_for(Run.from_config(config, ["naive"]), "m")
    assert not {"decoding", "pope/random/sweep_questions", "attention", "benchmark_bias"} & set(fewer)
    assert set(fewer) < set(keys)


def test_study_path_fills_the_given_wildcards_only():
    assert study_path("model") == "data/study/models/yes{yes_rate}_seed{seed}"
    assert study_path("model", yes_rate="0.8", seed="1") == "data/study/models/yes0.8_seed1"
    assert study_path("level/images", level="hard") == "data/study/levels/hard/images"
    with pytest.raises(KeyError):
        study_path("models")


def test_the_literal_check_sees_a_spelt_study_path():
    text = 'rule x:\n    input:\n        "results/study/gain.csv",\n        "data/study/models/yes{r}_seed{s}"\n'
    shapes = {_shape(p) for p in STUDY_PATHS.values()}
    assert [_shape(lit) in shapes for lit in _literals(text)] == [True, True]
