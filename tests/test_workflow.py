"""The whole workflow on a small config, through the real `snakemake` command line: once from nothing, then the
scoring rerun with one shard instead of two (the workflow benchmark's own code path), whose tables must not change."""

import copy
import json
import os
import re
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml
from conftest import ROOT

from lvlm_debias.performance.targets import differing_files
from lvlm_debias.performance.workflow_bench import snapshot_tables, workflow_benchmark

pytestmark = pytest.mark.slow


def _small_config(default_config):
    config = copy.deepcopy(default_config)
    config["world"].update(n_train_images=80, n_eval_images=12, image_size=32)
    model = config["models"]["shapes-llava"]
    model["architecture"].update(image_size=32, vision_hidden=32, text_hidden=64)
    model["training"].update(
        vision_steps=10, vision_images=100, text_steps=40, visual_steps=20, caption_steps=10, text_corpus_size=500
    )
    config["benchmarks"]["pope"]["n_images"] = 12
    config["benchmarks"]["mme"]["n_images"] = 6
    config["benchmarks"]["mmmu"]["n_images"] = 6
    config["scoring"].update(shards=2, batch_size=8)
    config["sweep"].update(temperatures=[0.5, 1.0], top_ps=[0.9, 1.0], top_ks=[0], max_new_tokens=4)
    config["generation"]["captions"].update(n_images=6, max_new_tokens=8, batch_size=4, samples=2)
    config["generation"]["classification"].update(max_new_tokens=3)
    return config


def _snakemake(workdir, configfile, *extra):
    """``snakemake`` on the checkout's Snakefile; ``extra`` (targets, options) goes first, since --configfile takes
    every argument after it."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            *extra,
            "--cores",
            "2",
            "--snakefile",
            str(ROOT / "Snakefile"),
            "--directory",
            str(workdir),
            "--configfile",
            str(configfile),
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
    assert tables["shards"].to_dict("records") == [{"shards": 2, "compared_with": 1, "tables": 55, "differing": ""}]
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
    # na: contextual calibration's "N/A" input, for the method table (baselines.calibrations)
    assert set(scores["probe"]) == {"naive", "none", "unk", "noise", "zero", "one", "na"}
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
    log = (tmp_path / "logs/shapes-llava/pope/references.log").read_text()
    assert "saved by the per-prompt reference cache" in log
    assert (tmp_path / "results/shapes-llava/pope/shards/1.csv").is_file()
    # the logit cache: POPE's three splits share their images, so each image's prefix ran once per probe
    shard_log = (tmp_path / "logs/shapes-llava/pope/shards/0.log").read_text()
    assert "distinct pairs" in shard_log and "'naive rows'" in shard_log

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
    # prior, attention, 3 calibration, 2 readings (MMMU has none), 3 confidence bins, bias, decoding, 3 contrast
    # grids, 2 method tables with their nulls (POPE, MME: the yes/no benchmarks), chair, contrastive, and the regime
    # (the embedded model has no published numbers of its own)
    assert len(blocks) == 20
    assert {"shapes-llava-paper", "shapes-llava-samples", "provenance", "config"} <= set(seen["ids"])
    assert seen["samples"] == 8 and seen["samples_shown"] == 1
    assert seen["sorted"]["ascending"] and seen["sorted"]["rows"] >= 3
    assert "The paper's findings beside this run" in seen["headings"]
    # the summary opens the report: every claim of config/paper_numbers.yaml with an interval and a verdict
    assert seen["first_section"] == "summary" and seen["summary"]["rows"] >= 9  # bins need enough questions
    assert set(seen["summary"]["verdicts"]) <= {"yes", "no", "inconclusive"}
    assert seen["details"]["shown_closed"] is False and seen["details"]["shown_open"] is True
    html = (workdir / "results/report.html").read_text()
    links = re.findall(r'<a href="([^"#][^"]*)">CSV</a>', html)
    assert len(links) >= 10 and all((workdir / "results" / link).is_file() for link in links)
    assert html.count('<table class="data captions">') == 2  # captions side by side, default and best settings


def test_snakemakes_own_report(small_run):
    workdir, _ = small_run
    out = workdir / "snakemake_report.html"
    run = _snakemake(workdir, workdir / "config_shards_1.yaml", "--report", str(out))
    assert run.returncode == 0, run.stderr[-3000:]
    html = out.read_text()
    assert "calibration" in html and len(html) > 100_000


#: an HF token in the environment of a run, which no output may contain
TOKEN = "hf_SentinelTokenThatMustNeverBeWritten0123"


def _kill_while_scoring(workdir, configfile, env):
    """Start the run in its own process group and SIGKILL the whole group (as a pre-empted cluster job is) once a
    scoring shard has started; returns the shard log that was running."""
    command = [sys.executable, "-m", "snakemake", "--cores", "2", "--snakefile", str(ROOT / "Snakefile"),
               "--directory", str(workdir), "--configfile", str(configfile)]  # fmt: skip
    process = subprocess.Popen(
        command, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline:
            running = [p for p in workdir.glob("logs/shapes-llava/*/shards/*.log") if "shard" in p.read_text()]
            if running:
                os.killpg(process.pid, signal.SIGKILL)
                return running[0]
            assert process.poll() is None, "the run ended before any scoring shard started"
            time.sleep(0.1)
        raise AssertionError("no scoring shard started within 600 s")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="module")
def resumed_run(small_run, tmp_path_factory):
    """The small config again in a new folder, with an HF token in the environment: killed while a scoring shard
    runs, unlocked, and resumed with --rerun-incomplete (what `make resume` does)."""
    configfile = small_run[0].parent / "small.yaml"
    workdir = tmp_path_factory.mktemp("resumed")
    env = {**os.environ, "HF_TOKEN": TOKEN, "HUGGING_FACE_HUB_TOKEN": TOKEN}
    killed = _kill_while_scoring(workdir, configfile, env)
    assert not (workdir / "results/report.html").exists()
    unlock = _snakemake(workdir, configfile, "--unlock")
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    resumed = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", "--snakefile", str(ROOT / "Snakefile"), "--directory",
         str(workdir), "--configfile", str(configfile), "--rerun-incomplete"],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return workdir, configfile, killed


def test_killed_run_resumes_to_identical_tables(small_run, resumed_run):
    """Checked to fail without the protection: without --rerun-incomplete the resumed run stops on the killed job's
    incomplete output, and the comparison below catches any table that differs from the uninterrupted run."""
    small_workdir, tables = small_run
    workdir, _, killed = resumed_run
    assert killed.is_file()
    snapshot_tables(workdir / "results", workdir / "tables")
    first_shards = tables["runs"]["shards"].iloc[0]
    assert differing_files(small_workdir / "tables" / f"shards_{first_shards}", workdir / "tables") == []


def test_no_output_holds_the_hf_token(resumed_run):
    """Checked to fail: a script that logs os.environ would put the token in logs/, which this reads."""
    workdir, _, _ = resumed_run
    leaks = [p for p in workdir.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]
    assert leaks == []


def test_a_corrupt_image_stops_the_job_and_skipping_counts_it(resumed_run):
    workdir, configfile, _ = resumed_run
    first = json.loads((workdir / "data/shapes_world/pope/random.jsonl").read_text().splitlines()[0])
    (workdir / "data/shapes_world" / first["image"]).write_bytes(b"not a png")
    shard = "results/shapes-llava/pope/shards/0.csv"
    failed = _snakemake(workdir, configfile, shard, "--forcerun", "first_token_shard")
    assert failed.returncode != 0
    log = (workdir / "logs/shapes-llava/pope/shards/0.log").read_text()
    assert f"record 1 (question_id {first['question_id']!r})" in log and first["image"] in log
    assert not (workdir / shard).exists()  # no partial output left behind

    config = yaml.safe_load(configfile.read_text())
    config["scoring"]["skip_bad_records"] = True
    skipping = workdir / "skip.yaml"
    skipping.write_text(yaml.safe_dump(config))
    target = "results/shapes-llava/pope/random/label_probs.meta.json"
    meta = workdir / target
    run = _snakemake(workdir, skipping, target)
    assert run.returncode == 0, run.stderr[-3000:]
    data = json.loads(meta.read_text())
    questions = [
        json.loads(line) for line in (workdir / "data/shapes_world/pope/random.jsonl").read_text().splitlines()
    ]
    assert data["skipped_records"] == sum(q["image"] == first["image"] for q in questions) > 0
    table = pd.read_csv(workdir / "results/shapes-llava/pope/random/label_probs.csv")
    assert first["question_id"] not in set(table["question_id"])
