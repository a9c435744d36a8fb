"""The whole workflow on a small config, through the real `snakemake` command line: once from nothing, then the
scoring rerun with one shard instead of two (the workflow benchmark's own code path), whose tables must not change."""

import copy
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from conftest import ROOT

from lvlm_debias.performance.workflow_bench import workflow_benchmark

pytestmark = pytest.mark.slow


def _small_config(default_config):
    config = copy.deepcopy(default_config)
    config["world"].update(n_train_images=80, n_eval_images=12, image_size=32)
    model = config["models"]["shapes-llava"]
    model["architecture"].update(image_size=32, vision_hidden=32, text_hidden=64)
    model["training"].update(vision_steps=10, vision_images=100, text_steps=40, visual_steps=20, text_corpus_size=500)
    config["benchmarks"]["pope"]["n_images"] = 12
    config["benchmarks"]["mme"]["n_images"] = 6
    config["benchmarks"]["mmmu"]["n_images"] = 6
    config["scoring"].update(shards=2, batch_size=8)
    config["sweep"].update(temperatures=[0.5, 1.0], top_ps=[0.9, 1.0], top_ks=[0], max_new_tokens=4)
    return config


def _snakemake(workdir, configfile, *extra):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--cores",
            "2",
            "--snakefile",
            str(ROOT / "Snakefile"),
            "--directory",
            str(workdir),
            "--configfile",
            str(configfile),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """(workdir, benchmark tables) of the small config run from nothing with 2 shards, then rerun with 1."""
    base = tmp_path_factory.mktemp("small_run")
    configfile = base / "small.yaml"
    configfile.write_text(yaml.safe_dump(_small_config(yaml.safe_load((ROOT / "config.yaml").read_text()))))
    workdir = base / "work"
    tables = workflow_benchmark(ROOT / "Snakefile", configfile, workdir, cores=2, shard_counts=(1,))
    return workdir, tables


def test_sharded_rerun_gives_identical_tables_and_times_every_rule(small_run):
    workdir, tables = small_run
    assert list(tables["runs"]["status"]) == [0, 0]
    assert tables["shards"].to_dict("records") == [{"shards": 2, "compared_with": 1, "tables": 27, "differing": ""}]
    assert (tables["targets"].tail(1)["status"] == "met").all()
    rules = set(tables["rules"]["rule"])
    assert {"shapes_llava", "first_token_shard", "reference_probs", "decoding_sweep", "report"} <= rules
    assert (tables["runs"]["peak_rss_mb"] > 100).all()


def test_small_run_produces_tables_figures_and_report(small_run):
    tmp_path, _ = small_run
    configfile = tmp_path / "config_shards_1.yaml"

    results = tmp_path / "results/shapes-llava"
    table = pd.read_csv(results / "pope/calibration.csv")
    methods = ["naive", "none", "unk", "both", "noise", "zero", "one"]
    assert len(table) == 3 * len(methods)
    assert set(table["split"]) == {"random", "popular", "adversarial"}
    assert list(table["method"][: len(methods)]) == methods
    assert table[["accuracy", "f1", "yes_ratio"]].apply(lambda c: c.between(0, 1)).all().all()
    mme = pd.read_csv(results / "mme/calibration.csv")
    assert {"acc_plus", "score", "perception_score", "cognition_score"} <= set(mme.columns)
    assert set(pd.read_csv(results / "mmmu/calibration_by_subset.csv")["subset"]) == {
        "shape",
        "colour",
        "count",
        "shape_facts",
    }

    scores = pd.read_csv(results / "pope/random/label_probs.csv")
    assert set(scores["probe"]) == {"naive", "none", "unk", "noise", "zero", "one"}
    for name in ("pope/calibration", "mme/confidence_bins", "benchmark_bias", "decoding", "prior_probing"):
        for suffix in (".png", ".pdf"):
            assert (results / f"{name}{suffix}").stat().st_size > 1000, name
    bins = pd.read_csv(results / "pope/confidence_bins.csv")
    assert {"0.5-0.6", "0.9-1"} <= set(bins["bin"]) and "enough" in bins.columns
    bias = pd.read_csv(results / "benchmark_bias.csv")
    assert set(bias["benchmark"]) == {"mme", "mmmu"} and "text_answerable" in bias.columns
    decoding = pd.read_csv(results / "decoding.csv")
    assert sorted(decoding["benchmark"]) == ["mme", "mmmu", "pope"]
    prior = pd.read_csv(results / "prior_probing.csv")
    assert set(prior["probe"]) == {"naive", "none", "unk", "noise", "zero", "one"}

    html = (tmp_path / "results/report.html").read_text()
    assert "data:image/png;base64," in html and "Model card" in html
    for title in (
        "Prior probing",
        "MME: naive vs post-hoc",
        "gain over naive by naive confidence",
        "Benchmark bias",
        "Decoding configurations",
    ):
        assert title in html, title
    assert 'src="http' not in html and "<script src" not in html  # self-contained
    log = (tmp_path / "logs/shapes-llava/pope/random/references.log").read_text()
    assert "saved by the per-prompt reference cache" in log
    assert (tmp_path / "results/shapes-llava/pope/random/shards/1.csv").is_file()

    again = _snakemake(tmp_path, configfile, "-n")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


def test_small_report_in_a_real_browser(small_run):
    """Every section of the real report present, every figure and sample image loaded, no console error, and a
    table sorted by clicking its header (skipped without Chromium, which .ci/run installs)."""
    from lvlm_debias.report.browser import find_chromium, inspect_report

    chromium = find_chromium()
    if chromium is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)")
    workdir, _ = small_run
    seen = inspect_report(workdir / "results/report.html", chromium)
    assert seen["errors"] == [] and seen["alerts"] == []
    assert len(seen["images"]) >= 9 + 8 and all(i["width"] > 0 for i in seen["images"])
    blocks = [i for i in seen["ids"] if i.startswith("shapes-llava-block-")]
    assert len(blocks) == 9  # prior, 3 calibration, 3 confidence bins, bias, decoding
    assert {"shapes-llava-paper", "shapes-llava-samples", "provenance", "config"} <= set(seen["ids"])
    assert seen["samples"] == 8 and seen["samples_shown"] == 1
    assert seen["sorted"]["ascending"] and seen["sorted"]["rows"] >= 3
    assert "The paper's findings beside this run" in seen["headings"]


def test_snakemakes_own_report(small_run):
    workdir, _ = small_run
    out = workdir / "snakemake_report.html"
    run = _snakemake(workdir, workdir / "config_shards_1.yaml", "--report", str(out))
    assert run.returncode == 0, run.stderr[-3000:]
    html = out.read_text()
    assert "calibration" in html and len(html) > 100_000
