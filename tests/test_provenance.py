"""Provenance facts: code version and dirty flag, config hash, job times from Snakemake benchmark files."""

import subprocess

import pytest

from lvlm_debias.report.provenance import config_hash, git_state, job_times, provenance


def test_git_state_sees_commit_and_uncommitted_changes(tmp_path):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "a.txt").write_text("one\n")
    git("add", "a.txt")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    clean = git_state(tmp_path)
    assert len(clean["commit"]) == 40 and clean["dirty"] == "no"
    (tmp_path / "a.txt").write_text("two\n")
    assert git_state(tmp_path) == {"commit": clean["commit"], "dirty": "yes"}
    assert git_state(tmp_path / "nowhere") == {"commit": "unknown", "dirty": "unknown"}


def test_config_hash_ignores_key_order_and_sees_values():
    assert config_hash({"seed": 0, "a": {"b": 1, "c": 2}}) == config_hash({"a": {"c": 2, "b": 1}, "seed": 0})
    assert config_hash({"seed": 0}) != config_hash({"seed": 1})


def test_a_config_read_from_json_is_hashed_and_shown_like_its_yaml_twin():
    """Snakemake reads a JSON configfile into OrderedDicts (inside lists too), which yaml.safe_dump refuses."""
    from collections import OrderedDict

    from lvlm_debias.report.provenance import config_yaml

    nested = OrderedDict(seed=0, questions=[OrderedDict(text="What colour is the heart?", absent="heart")])
    twin = {"seed": 0, "questions": [{"text": "What colour is the heart?", "absent": "heart"}]}
    assert config_hash(nested) == config_hash(twin)
    assert config_yaml(nested) == config_yaml(twin)


def test_job_times_read_benchmark_files(tmp_path):
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.tsv").write_text(header + "339.37\t0:05:39\t1786.29\t1\t1\t1\t1\t1\t1\t604.34\n")
    (tmp_path / "w.tsv").write_text(header + "4.5\t0:00:04\t300\t1\t1\t1\t1\t1\t1\t3.0\n")
    times = job_times(tmp_path).set_index("job")
    assert times.loc["models/m", "seconds"] == pytest.approx(339.37)
    assert times.loc["w", "max_rss_mb"] == 300 and times.loc["w", "cpu_seconds"] == 3.0
    (tmp_path / "bad.tsv").write_text("x\n1\n")
    with pytest.raises(ValueError, match="bad.tsv is not a Snakemake benchmark file"):
        job_times(tmp_path)


def test_provenance_states_the_seed_and_versions(tmp_path):
    facts = provenance(tmp_path, {"seed": 7})
    assert facts["seed"] == "7" and facts["git commit"] == "unknown"
    assert facts["torch version"] != "not installed" and "cpus" in facts


def test_skipped_records_are_summed_per_split(tmp_path):
    from lvlm_debias.data.questions import BadRecord, write_skipped
    from lvlm_debias.report.provenance import skipped_records

    write_skipped(tmp_path / "a.json", "q.jsonl", [BadRecord(3, 7, "image gone"), BadRecord(4, 8, "no text")])
    write_skipped(tmp_path / "b.json", "q.jsonl", [])
    outputs = {
        "m": {
            "pope/random/label_probs_meta": tmp_path / "a.json",
            "pope/popular/label_probs_meta": tmp_path / "b.json",
            "pope/calibration": "x",
        }
    }
    assert skipped_records(outputs) == "m pope/random: 2"
    assert skipped_records({"m": {"pope/popular/label_probs_meta": tmp_path / "b.json"}}) == "0"


def test_sources_name_each_model_and_dataset():
    from lvlm_debias.report.provenance import sources

    config = {
        "seed": 3,
        "models": {"tiny": {"source": "train"}, "llava": {"source": "llava-hf/llava-1.5-7b-hf", "revision": "abc"}},
        "benchmarks": {"pope": {"dataset": "shapes_world"}, "mme": {"dataset": "mme"}},
    }
    assert sources(config) == {
        "model tiny": "trained here (data/models/tiny, seed 3)",
        "model llava": "llava-hf/llava-1.5-7b-hf at revision abc",
        "dataset mme": "data/mme",
        "dataset shapes_world": "generated here (data/shapes_world, seed 3)",
    }
