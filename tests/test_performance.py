"""The performance benchmark's parts: the official-way baseline agrees with our scoring, targets, comparisons,
process-tree memory sampling and the per-rule times."""

import math
import subprocess
import sys

import pandas as pd
import pytest
from conftest import schema_defaults, write_questions

from lvlm_debias.benchmarks import benchmark
from lvlm_debias.models.prompts import LLAVA_HF
from lvlm_debias.performance.measure import PeakTreeRss, run_measured, timed
from lvlm_debias.performance.official import max_new_tokens_for, official_label_probs
from lvlm_debias.performance.scoring_bench import scoring_benchmark
from lvlm_debias.performance.targets import Target, agreement, differing_files, targets_frame
from lvlm_debias.performance.workflow_bench import snapshot_tables
from lvlm_debias.report.provenance import rule_times
from lvlm_debias.scoring.score import YES_NO, score_questions


def _questions(tmp_path, n=6):
    return write_questions(tmp_path, n, labels=("yes", "no"))


def test_official_way_gives_our_label_probabilities(tiny_llava, tmp_path):
    model, processor = tiny_llava
    questions = _questions(tmp_path)
    theirs, steps = official_label_probs(
        model, processor, questions, tmp_path, template=LLAVA_HF, labels=YES_NO, top_k=100, max_new_tokens=3
    )
    ours, _, passes = score_questions(
        model,
        processor,
        questions,
        tmp_path,
        template=LLAVA_HF,
        labels=YES_NO,
        probes=("naive", "none", "unk"),
        top_k=100,
        batch_size=32,
    )
    table = agreement(ours, theirs, list(YES_NO))
    assert list(table["probe"]) == ["naive", "none", "unk"]
    assert (table["same_argmax"] == len(questions)).all()
    assert (table["max_abs_diff"] < 1e-5).all()
    # one generate call per question and probe, each at least one step and at most max_new_tokens
    assert all(len(questions) <= s <= 3 * len(questions) for s in steps.values())
    # the reference cache: 3 distinct prompts among 6 questions
    assert passes == {"naive": 6, "none": 3, "unk": 3}


def test_max_new_tokens_fits_the_context(tiny_llava):
    model, _ = tiny_llava
    limit = model.config.text_config.max_position_embeddings
    assert max_new_tokens_for(model, 10) == limit - 10
    assert max_new_tokens_for(model, 10, wanted=5) == 5
    with pytest.raises(ValueError, match=f"no room in the model's {limit} positions"):
        max_new_tokens_for(model, limit)


def test_agreement_counts_argmax_and_names_a_missing_row():
    ours = pd.DataFrame({"question_id": [1, 2], "probe": "naive", "p_yes": [0.7, 0.4], "p_no": [0.3, 0.6]})
    theirs = ours.assign(p_yes=[0.6, 0.55], p_no=[0.4, 0.45])
    table = agreement(ours, theirs, ["yes", "no"])
    assert table.to_dict("records") == [
        {"probe": "naive", "questions": 2, "same_argmax": 1, "max_abs_diff": pytest.approx(0.15)}
    ]
    with pytest.raises(ValueError, match="question 2 probe 'naive'"):
        agreement(ours, theirs.iloc[:1], ["yes", "no"])


def test_targets_are_met_or_not():
    assert Target("speed", 12.0, ">=", 10).met
    assert not Target("speed", 9.6, ">=", 10).met
    assert Target("memory", 1900, "<=", 3072).met
    assert not Target("nan never meets", math.nan, "<=", 1).met
    with pytest.raises(ValueError, match="operator '>' is not one of"):
        Target("bad", 1, ">", 0)
    frame = targets_frame([Target("speed", 9.6, ">=", 10, "x"), Target("diff", 0, "==", 0)])
    assert list(frame["status"]) == ["NOT met", "met"]
    assert list(frame["requirement"]) == [">= 10 x", "== 0"]


def test_differing_files_and_snapshot_skip_shards(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        (root / "m/pope/shards").mkdir(parents=True)
        (root / "m/pope/t.csv").write_text("x\n1\n")
        (root / "m/pope/shards/0.csv").write_text(f"{root.name}\n")
    assert snapshot_tables(a, tmp_path / "snap_a") == 1
    assert snapshot_tables(b, tmp_path / "snap_b") == 1
    assert differing_files(tmp_path / "snap_a", tmp_path / "snap_b") == []
    assert differing_files(a, b) == ["m/pope/shards/0.csv"]
    (b / "m/pope/t.csv").write_text("x\n2\n")
    (b / "m/extra.csv").write_text("y\n")
    assert differing_files(a, b) == ["m/extra.csv", "m/pope/shards/0.csv", "m/pope/t.csv"]


def test_peak_rss_sees_a_child_process(tmp_path):
    grow = "import time; x = bytearray(300 * 2**20); x[::4096] = b'1' * len(x[::4096]); time.sleep(1.0)"
    measure = run_measured([sys.executable, "-c", grow], log=tmp_path / "log", interval=0.05)
    assert measure.returncode == 0
    assert measure.peak_rss_mb > 250
    assert measure.seconds >= 1.0
    failed = run_measured([sys.executable, "-c", "raise SystemExit(3)"], interval=0.05)
    assert failed.returncode == 3
    with pytest.raises(ValueError, match="interval must be > 0"):
        PeakTreeRss(1, interval=0)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
    with PeakTreeRss(child.pid, 0.05) as peak:
        child.wait()
    assert peak.peak > 0
    assert timed(lambda: 7)[0] == 7


def test_rule_times_group_jobs_by_rule():
    jobs = pd.DataFrame(
        {
            "job": ["first_token_shard/m/pope/random/shards/0", "first_token_shard/m/pope/random/shards/1", "report/x"],
            "seconds": [3.0, 5.0, 1.0],
            "max_rss_mb": [100.0, 300.0, 50.0],
            "cpu_seconds": [1.0, 1.0, 1.0],
        }
    )
    table = rule_times(jobs)
    assert table.to_dict("records") == [
        {"rule": "first_token_shard", "jobs": 2, "total_seconds": 8.0, "longest_seconds": 5.0, "max_rss_mb": 300.0},
        {"rule": "report", "jobs": 1, "total_seconds": 1.0, "longest_seconds": 1.0, "max_rss_mb": 50.0},
    ]


def test_scoring_benchmark_tables(tiny_llava, tmp_path):
    questions = _questions(tmp_path, n=4)
    sweep = {"temperatures": [1.0], "top_ps": [1.0], "top_ks": [0, 2], "max_new_tokens": 2}
    tables = scoring_benchmark(
        tiny_llava,
        tiny_llava,
        questions,
        tmp_path,
        name="pope",
        template=LLAVA_HF,
        scoring=schema_defaults("scoring", {"batch_size": 3, "store_top": 10}),
        sweep=sweep,
        parser="vcd",
        generate_runs=1,
    )
    assert set(tables) == {"scoring", "agreement", "references", "sweep", "targets"}
    assert list(tables["scoring"]["way"]) == ["official", "ours", "ours: naive pass alone"]
    assert (tables["scoring"]["samples_per_s"] > 0).all()
    assert tables["references"].set_index("probe")["ours_forward_rows"].to_dict() == {"none": 3, "unk": 3}
    assert list(tables["sweep"]["configs"]) == [3, 3]  # greedy + (T=1, top-k 0) + (T=1, top-k 2)
    assert list(tables["sweep"]["timed_runs"]) == [3, 1]
    assert tables["targets"].iloc[-1]["status"] == "met"  # same argmax as the official way
    assert benchmark("pope").labels == YES_NO


def test_cost_model_by_hand():
    from lvlm_debias.performance.cost_model import (
        PAPER_QUESTIONS,
        PAPER_SOURCES,
        Architecture,
        Gpu,
        batch_that_fits,
        decode_step_seconds,
        kv_bytes_per_token,
        paper_gpu_hours,
        prefill_flops,
        scoring_questions_per_s,
        suffix_flops,
    )

    arch = Architecture(
        "toy",
        llm_params=1e9,
        vision_params=1e8,
        projector_params=1e6,
        layers=2,
        hidden=10,
        intermediate=20,
        image_tokens=4,
        vision_tokens=5,
    )
    gpu = Gpu("toy", tflops=100.0, bandwidth_tb_s=1.0, memory_gib=10.0)
    # 2*1e9*6 + 4*2*36*10 = 12e9 + 2880; image: + 2*1e8*5 + 2*1e6*4 = 1e9 + 8e6
    assert prefill_flops(arch, 2, image=False) == 2 * 1e9 * 2 + 4 * 2 * 4 * 10
    assert prefill_flops(arch, 2) == 12e9 + 2880 + 1e9 + 8e6
    assert kv_bytes_per_token(arch) == 2 * 2 * 10 * 2
    # weights 2 * 1.101e9 bytes + 3 rows * 100 tokens * 80 bytes, over 1e12 bytes/s
    assert decode_step_seconds(arch, gpu, 3, 100) == pytest.approx((2 * 1.101e9 + 3 * 100 * 80) / 1e12)
    assert scoring_questions_per_s(arch, gpu, 2, 0.5) == pytest.approx(50e12 / prefill_flops(arch, 2))
    with pytest.raises(ValueError, match="mfu must lie in"):
        scoring_questions_per_s(arch, gpu, 2, 0)
    # free: 10 GiB - 2.202e9 bytes - 4 GiB; per row 6 tokens * (40 + 40) * 2 bytes = 960 bytes
    assert batch_that_fits(arch, gpu, 6) == int((6 * 2**30 - 2.202e9) // 960)
    hours = paper_gpu_hours(arch, gpu, distinct_prompts=10, captions=0, caption_tokens=10)
    assert list(hours["rule"]) == ["first_token_shard", "reference_probs", "vdd_generation", "opera_generation"]
    assert hours.loc[2:, "ours_gpu_hours"].tolist() == [0, 0] == hours.loc[2:, "official_gpu_hours"].tolist()
    # OPERA, 3 captions of 10 tokens: ours 2 passes of 32 rows (6 captions of 5 beams) per token, the official way
    # 1 + 5 passes of 5 rows, one caption at a time; context 4 image + 60 text + 5 tokens
    opera = paper_gpu_hours(arch, gpu, distinct_prompts=10, captions=3, caption_tokens=10).set_index("rule")
    step = decode_step_seconds
    assert opera.loc["opera_generation", "ours_gpu_hours"] == pytest.approx(30 * 2 * step(arch, gpu, 32, 69) / 6 / 3600)
    assert opera.loc["opera_generation", "official_gpu_hours"] == pytest.approx(30 * 6 * step(arch, gpu, 5, 69) / 3600)
    # the official way: every question's whole prompt at a quarter of the utilisation; ours: the logit cache, one
    # prefix per image (36 text tokens at text_tokens 60) and one 24-token suffix per distinct pair (PAPER_SOURCES)
    prefix, suffix = prefill_flops(arch, 36), suffix_flops(arch, 36 + 4, 24)
    cached = sum(i * prefix + p * suffix for i, p in PAPER_SOURCES.values())
    assert hours.loc[0, "ours_gpu_hours"] == pytest.approx(2 * cached / 50e12 / 3600)
    assert hours.loc[0, "official_gpu_hours"] == pytest.approx(
        2 * sum(PAPER_QUESTIONS.values()) * prefill_flops(arch, 60) / 12.5e12 / 3600
    )
    # a suffix of 3 tokens after 5 cached ones: 2*1e9*3 + 4*2*3*8*10
    assert suffix_flops(arch, 5, 3) == 6e9 + 1920
    # a family that cannot share its prefix (Qwen2.5-VL, InstructBLIP): each distinct pair's whole prompt
    whole = paper_gpu_hours(arch, gpu, distinct_prompts=10, captions=0, caption_tokens=10, shares_prefix=False)
    pairs = sum(p for _, p in PAPER_SOURCES.values())
    assert whole.loc[0, "ours_gpu_hours"] == pytest.approx(2 * pairs * prefill_flops(arch, 60) / 50e12 / 3600)
    assert whole.loc[1:, "ours_gpu_hours"].tolist() == hours.loc[1:, "ours_gpu_hours"].tolist()


def test_the_cost_models_families_match_the_registry():
    """Each model of the cost model that the registry's families cannot share a prefix for is in NO_PREFIX."""
    from lvlm_debias.models.families import FAMILIES
    from lvlm_debias.performance.cost_model import MODERN_MODELS, NO_PREFIX, PAPER_MODELS

    family = {"llava-1.5": "llava", "instructblip": "instructblip", "qwen2.5-vl": "qwen2_5_vl",
              "llava-onevision": "llava_onevision", "smolvlm": "idefics3"}  # fmt: skip
    for arch in [*PAPER_MODELS.values(), *MODERN_MODELS.values()]:
        (model_type,) = [t for prefix, t in family.items() if arch.name.startswith(prefix)]
        assert (arch.name in NO_PREFIX) == (not FAMILIES[model_type].shares_prefix), arch.name


def test_the_cache_benchmark_compares_both_ways_on_the_same_questions(tiny_llava, tmp_path):
    from test_logit_cache import _split_questions

    from lvlm_debias.performance.cache_bench import cache_benchmark

    model, processor = tiny_llava
    splits = _split_questions(tmp_path)
    tables = cache_benchmark(
        model, processor, splits, tmp_path, name="pope", template=LLAVA_HF,
        scoring=schema_defaults("scoring", {"batch_size": 4, "store_top": 20}),
        alphas=[0, 1], betas=[0.1, 0.5], repeats=1,
    )  # fmt: skip
    assert set(tables) == {"scoring", "agreement", "grid", "flops", "targets"}
    agreement_table = tables["agreement"]
    assert (agreement_table["same_prediction"] == agreement_table["rows"]).all()
    assert (agreement_table["max_abs_diff"] < 1e-5).all() and agreement_table["rows"].sum() == 3 * 14
    scoring = tables["scoring"].set_index("way")
    cache = scoring.loc["logit cache (distinct pairs, one prefix per image)"]
    assert (cache["image_rows"], cache["image_prefix_passes"]) == (8, 4)  # 8 distinct pairs about 4 images
    targets = tables["targets"].set_index("target")["status"]
    assert targets["same prediction as each split on its own (share of question-probe rows)"] == "met"
    assert targets["cost model, POPE-COCO on LLaVA-1.5-7B: fewer prefill FLOPs"] == "met"
    assert targets["grid settings"] == "NOT met"  # 4 settings here; the benchmark's default grid has 25
