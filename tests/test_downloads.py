"""Downloads from a local hub cache (the real snapshot_download code path, HF_HOME pointing at a cache made here):
the manifest is written only once the checkpoint is complete, a rerun makes no network call, and hub benchmarks
become question files with their images and a sha256 manifest."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
from conftest import ROOT
from hub_cache import (
    REVISION,
    checkpoint_files,
    fill_hub_cache,
    llava_bench_files,
    mme_files,
    mmmu_files,
    pope_files,
)

from lvlm_debias.data.manifest import sha256_file

REPO = "org/tiny-llava"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp_path, **extra):
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p),
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_OFFLINE": "1",
        "HF_ENDPOINT": f"http://127.0.0.1:{_closed_port()}",  # any network call fails at once
        **extra,
    }


def _python(tmp_path, code, **env):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=_env(tmp_path, **env), capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


DOWNLOAD = """
from lvlm_debias.models.download import download_model
m = download_model({repo!r}, {manifest!r}, revision={revision!r}, fetch={fetch})
print(m["commit"], len(m["files"]))
"""


@pytest.fixture()
def model_cache(tmp_path, tiny_llava):
    files = checkpoint_files(tiny_llava, tmp_path / "saved")
    return fill_hub_cache(tmp_path / "hf/hub", "model", REPO, files), files


def test_model_downloads_from_filled_cache_offline_and_loads(tmp_path, model_cache):
    """Offline (HF_HUB_OFFLINE=1) with a filled cache: the manifest lists every file with its size and sha256, and
    the model loads by repo id from the same cache. Checked to fail without the feature: with an empty HF_HOME the
    same call raises HubAccessError naming the repo (asserted below)."""
    snapshot, files = model_cache
    manifest = tmp_path / "data/models/tiny/manifest.json"
    run = _python(tmp_path, DOWNLOAD.format(repo=REPO, manifest=str(manifest), revision=REVISION, fetch=False))
    assert run.returncode == 0, run.stderr[-2000:]
    data = json.loads(manifest.read_text())
    assert data["commit"] == REVISION and data["repo"] == REPO
    assert {f["path"] for f in data["files"]} == set(files)
    weights = next(f for f in data["files"] if f["path"].endswith(".safetensors"))
    assert weights["sha256"] == sha256_file(snapshot / weights["path"])
    load = _python(tmp_path, f"""
        from lvlm_debias.models.load import load_model
        model, processor = load_model({REPO!r}, revision={REVISION!r}, device="cpu")
        print(type(model).__name__)
    """)  # fmt: skip
    assert load.returncode == 0 and "LlavaForConditionalGeneration" in load.stdout, load.stderr[-2000:]

    empty = _python(tmp_path, DOWNLOAD.format(repo=REPO, manifest=str(tmp_path / "m2.json"), revision=REVISION,
                                               fetch=False), HF_HOME=str(tmp_path / "empty"))  # fmt: skip
    assert empty.returncode != 0 and "HubAccessError" in empty.stderr and REPO in empty.stderr
    assert "hf download org/tiny-llava --revision" in empty.stderr
    assert not (tmp_path / "m2.json").exists()


def test_rerun_with_manifest_makes_no_network_call(tmp_path, model_cache):
    """With the manifest and the cache in place, a download allowed online (fetch, HF_HUB_OFFLINE=0) returns the
    manifest without touching the hub: HF_ENDPOINT is a closed port, so any request would fail. Checked to fail
    without the protection: with the early return in ``download`` removed, this run raised HubAccessError ("cannot
    be reached")."""
    manifest = tmp_path / "manifest.json"
    first = _python(tmp_path, DOWNLOAD.format(repo=REPO, manifest=str(manifest), revision=REVISION, fetch=False))
    assert first.returncode == 0, first.stderr[-2000:]
    before = manifest.stat().st_mtime_ns
    again = _python(tmp_path, DOWNLOAD.format(repo=REPO, manifest=str(manifest), revision=REVISION, fetch=True),
                    HF_HUB_OFFLINE="0")  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]
    assert manifest.stat().st_mtime_ns == before


def test_interrupted_download_leaves_no_manifest(tmp_path, tiny_llava):
    """A snapshot as an interrupted download leaves it (the index names two shards, one never arrived) is refused
    with a message naming the missing shard, and no manifest is written, so no scoring job can start. Checked to
    fail without the protection: without the completeness check the manifest was written and listed one shard."""
    files = checkpoint_files(tiny_llava, tmp_path / "saved")
    weights = files.pop("model.safetensors")
    files["model-00001-of-00002.safetensors"] = weights
    index = {"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                                            "b": "model-00002-of-00002.safetensors"}}  # fmt: skip
    files["model.safetensors.index.json"] = json.dumps(index).encode()
    fill_hub_cache(tmp_path / "hf/hub", "model", REPO, files)
    manifest = tmp_path / "manifest.json"
    run = _python(tmp_path, DOWNLOAD.format(repo=REPO, manifest=str(manifest), revision=REVISION, fetch=False))
    assert run.returncode != 0
    assert "IncompleteSnapshot" in run.stderr and "model-00002-of-00002.safetensors" in run.stderr
    assert not manifest.exists()


def test_a_repo_with_only_pickled_weights_is_refused_with_what_to_do(tmp_path, tiny_llava):
    """Weights load from safetensors only: a repo that ships only ``pytorch_model.bin`` gets no manifest and a message
    saying so and pointing at a safetensors revision, not only "an interrupted download"."""
    files = checkpoint_files(tiny_llava, tmp_path / "saved")
    files["pytorch_model.bin"] = files.pop("model.safetensors")  # the bytes do not matter: it is never read
    fill_hub_cache(tmp_path / "hf/hub", "model", REPO, files)
    manifest = tmp_path / "manifest.json"
    run = _python(tmp_path, DOWNLOAD.format(repo=REPO, manifest=str(manifest), revision=REVISION, fetch=False))
    assert run.returncode != 0 and "IncompleteSnapshot" in run.stderr
    assert "never from pickled *.bin files" in run.stderr and "refs/pr/<n>" in run.stderr
    assert not manifest.exists()


def test_unreachable_hub_fails_fast_and_leaves_no_manifest(tmp_path):
    """Online, nothing cached, hub unreachable: HubAccessError naming the repo within 30 s, no manifest."""
    manifest = tmp_path / "manifest.json"
    run = _python(tmp_path, DOWNLOAD.format(repo=REPO, manifest=str(manifest), revision=REVISION, fetch=True),
                  HF_HUB_OFFLINE="0")  # fmt: skip
    assert run.returncode != 0 and "cannot be reached" in run.stderr and REPO in run.stderr
    assert not manifest.exists()


def _dataset_caches(cache):
    fill_hub_cache(cache, "dataset", "lmms-lab/POPE", pope_files())
    fill_hub_cache(cache, "dataset", "lmms-lab-encoder/MME", mme_files())  # only under its new name: the mirror serves
    fill_hub_cache(cache, "dataset", "MMMU/MMMU", mmmu_files())
    fill_hub_cache(cache, "dataset", "lmms-lab/llava-bench-in-the-wild", llava_bench_files())


DATASETS = {
    "pope_coco": {"repo": "lmms-lab/POPE", "revision": REVISION, "format": "pope", "files": "Full/{split}-*.parquet"},
    "mme": {"repo": "lmms-lab/MME", "mirrors": ["lmms-lab-encoder/MME"], "revision": REVISION, "format": "mme",
            "files": "data/test-*.parquet"},
    "mmmu": {"repo": "MMMU/MMMU", "revision": REVISION, "format": "mmmu", "files": "*/validation-*.parquet"},
    "llava_bench": {"repo": "lmms-lab/llava-bench-in-the-wild", "revision": REVISION, "format": "llava_bench",
                    "files": "data/*.parquet"},
}  # fmt: skip


@pytest.mark.slow
def test_download_rules_end_to_end_offline(tmp_path, model_cache, default_config):
    """Snakemake on a tiny config in a tmp dir, HF_HUB_OFFLINE=1 and HF_HOME at a filled local cache: rule hub_model
    writes the model's manifest, hub_dataset/hub_questions convert POPE, MME, MMMU and LLaVA-Bench, a POPE split
    is scored with the downloaded model and LLaVA-Bench answered by generation; MME, cached only under its mirror's
    name, is taken from the mirror. A second run has nothing to do (no output re-made).
    Checked to fail without the wiring: with model_inputs not naming the manifest, hub_model never ran (the
    manifest assertion failed)."""
    _dataset_caches(tmp_path / "hf/hub")
    config = default_config
    config["models"] = {
        "tiny": {"source": "hub", "repo": REPO, "revision": REVISION, "prompt": "USER: <image>\n{question} ASSISTANT:",
                 "device": "cpu"}
    }  # fmt: skip
    config["benchmarks"] = {
        "pope_coco": {"dataset": "pope_coco", "splits": ["random"]},
        "mme": {"dataset": "mme"},
        "mmmu": {"dataset": "mmmu"},
    }
    config["datasets"] = DATASETS
    config["generation"] = {  # LLaVA-Bench answered by generation (the embedded benchmarks are not configured here)
        "methods": ["naive", "vdd-none"], "settings": ["default"],
        "open_ended": {"dataset": "llava_bench", "max_new_tokens": 4, "batch_size": 2, "samples": 2},
    }  # fmt: skip
    config["downloads"] = {"fetch": False}
    config["scoring"] = {"shards": 1, "batch_size": 4}
    config["calibration"] = {"references": ["none", "unk"]}
    (tmp_path / "config.yaml").write_text(json.dumps(config))
    targets = [
        "results/tiny/pope_coco/random/label_probs.csv",
        "data/mme/mme/all.jsonl",
        "data/mmmu/mmmu/validation.jsonl",
        "data/llava_bench/llava_bench/all.jsonl",
        "results/tiny/open_ended.csv",
    ]
    command = [sys.executable, "-m", "snakemake", "--cores", "2", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path),
               *targets, "--configfile", str(tmp_path / "config.yaml")]  # fmt: skip
    run = subprocess.run(command, env=_env(tmp_path), capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]

    model = json.loads((tmp_path / "data/models/tiny/manifest.json").read_text())
    assert model["commit"] == REVISION
    pope = [json.loads(line) for line in (tmp_path / "data/pope_coco/pope_coco/random.jsonl").read_text().splitlines()]
    assert len(pope) == 6 and {q["label"] for q in pope} == {"yes", "no"} and pope[0]["subset"] == "random"
    assert pope[0]["object"] == "circle"
    manifest = json.loads((tmp_path / "data/pope_coco/pope_coco/random.manifest.json").read_text())
    assert manifest["source"]["repo"] == "lmms-lab/POPE" and manifest["questions"] == 6
    for entry in manifest["files"]:  # the question file and the 3 distinct images, each with its hash
        assert sha256_file(tmp_path / "data/pope_coco" / entry["path"]) == entry["sha256"]
    assert len(manifest["files"]) == 1 + 3
    mme = [json.loads(line) for line in (tmp_path / "data/mme/mme/all.jsonl").read_text().splitlines()]
    assert json.loads((tmp_path / "data/mme/mme/all.manifest.json").read_text())["source"]["repo"] == (
        "lmms-lab-encoder/MME"
    )
    assert len(mme) == 6 and len({q["source_id"] for q in mme}) == 6 and {q["label"] for q in mme} == {"yes", "no"}
    mmmu_manifest = json.loads((tmp_path / "data/mmmu/mmmu/validation.manifest.json").read_text())
    assert mmmu_manifest["questions"] == 4  # per subject: 4 rows - 1 open - 1 with 5 options
    assert mmmu_manifest["skipped"] == {"open question": 2, "more than 4 options": 2}
    bench = [
        json.loads(line) for line in (tmp_path / "data/llava_bench/llava_bench/all.jsonl").read_text().splitlines()
    ]
    assert len(bench) == 3 and bench[0]["label"] == "A plain coloured square."
    answers = pd.read_csv(tmp_path / "results/tiny/open_ended/default.csv", keep_default_na=False)
    assert len(answers) == 2 * 3 and set(answers["reference"]) == {q["label"] for q in bench}
    summary = pd.read_csv(tmp_path / "results/tiny/open_ended.csv")
    assert summary[["setting", "method", "n"]].values.tolist() == [["default", "naive", 3], ["default", "vdd-none", 3]]
    samples = json.loads((tmp_path / "results/tiny/open_ended_samples.json").read_text())
    assert len(samples["default"]) == 2 and set(samples["default"][0]["answers"]) == {"naive", "vdd-none"}
    table = pd.read_csv(tmp_path / "results/tiny/pope_coco/random/label_probs.csv")
    # 6 questions, 4 probes (na: contextual calibration's "N/A" input, for the method table)
    assert len(table) == 6 * 4 and set(table["probe"]) == {"naive", "none", "unk", "na"}

    again = subprocess.run([*command[:3], "-n", *command[3:]], env=_env(tmp_path), capture_output=True, text=True,
                           timeout=300)  # fmt: skip
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


DOWNLOAD_FIRST = """
import json, logging
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
from lvlm_debias.benchmarks import converter
from lvlm_debias.data.convert import write_hub_questions
from lvlm_debias.models.download import download_first
m = download_first({repos!r}, {manifest!r}, revision={revision!r}, repo_type="dataset",
                   allow_patterns=["Full/*-*.parquet", "README.md"], fetch={fetch})
out = write_hub_questions(converter("pope"), "Full/{{split}}-*.parquet", m, "random", {root!r} + "/q/random.jsonl",
                          {root!r} + "/q/random.manifest.json", {root!r})
print(json.dumps({{"repo": m["repo"], "source": out["source"]["repo"], "questions": out["questions"]}}))
"""


def test_a_dataset_moved_to_a_mirror_is_downloaded_from_it(tmp_path):
    """A local hub cache that holds lmms-lab/POPE only under its new name, lmms-lab-encoder/POPE: offline, the
    configured name is not found, the mirror serves, the log says so, the download manifest and the converted split's
    manifest name the mirror, and the questions are converted from its snapshot. A rerun returns the manifest with
    no request (HF_ENDPOINT is a closed port, the run is online). Checked to fail without the feature: download()
    of the configured name raised HubAccessError (not in the local cache)."""
    fill_hub_cache(tmp_path / "hf/hub", "dataset", "lmms-lab-encoder/POPE", pope_files())
    manifest = tmp_path / "data/pope_coco/hub_files.json"
    code = DOWNLOAD_FIRST.format(repos=["lmms-lab/POPE", "lmms-lab-encoder/POPE"], manifest=str(manifest),
                                 revision=REVISION, fetch=False, root=str(tmp_path / "data/pope_coco"))  # fmt: skip
    run = _python(tmp_path, code)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result == {"repo": "lmms-lab-encoder/POPE", "source": "lmms-lab-encoder/POPE", "questions": 6}
    assert "WARNING lmms-lab/POPE not found; trying lmms-lab-encoder/POPE" in run.stderr
    assert "INFO lmms-lab/POPE served by lmms-lab-encoder/POPE" in run.stderr
    data = json.loads(manifest.read_text())
    assert data["repo"] == "lmms-lab-encoder/POPE" and data["commit"] == REVISION
    assert "datasets--lmms-lab-encoder--POPE" in data["snapshot"]

    before = manifest.stat().st_mtime_ns
    again = _python(tmp_path, code.replace("fetch=False", "fetch=True"), HF_HUB_OFFLINE="0")
    assert again.returncode == 0, again.stderr[-3000:]
    assert manifest.stat().st_mtime_ns == before and "not found" not in again.stderr


def test_no_mirror_found_names_every_repo_tried(tmp_path):
    """Offline with neither name cached: HubAccessError naming both repos and why, no manifest. A repo that exists but
    fails otherwise (here: a hub that cannot be reached) is not skipped for a mirror."""
    manifest = tmp_path / "hub_files.json"
    code = DOWNLOAD_FIRST.format(repos=["lmms-lab/POPE", "lmms-lab-encoder/POPE"], manifest=str(manifest),
                                 revision=REVISION, fetch=False, root=str(tmp_path))  # fmt: skip
    run = _python(tmp_path, code)
    assert (
        run.returncode != 0
        and "HubAccessError: none of ['lmms-lab/POPE', 'lmms-lab-encoder/POPE'] is found" in run.stderr
    )
    assert "  - lmms-lab/POPE: dataset 'lmms-lab/POPE'" in run.stderr
    assert "  - lmms-lab-encoder/POPE: dataset 'lmms-lab-encoder/POPE'" in run.stderr
    assert not manifest.exists()
    online = _python(tmp_path, code.replace("fetch=False", "fetch=True"), HF_HUB_OFFLINE="0")
    assert online.returncode != 0 and "cannot be reached" in online.stderr and "trying" not in online.stderr
