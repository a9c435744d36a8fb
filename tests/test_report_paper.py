"""The paper's findings and numbers beside this run's: loading config/paper_numbers.yaml and the checks."""

import pandas as pd
import pytest
import yaml
from conftest import ROOT

from lvlm_debias.report.paper import CHECKS, claim_rows, load_paper_numbers, number_rows, regime_rows


def _write(tmp_path, data):
    path = tmp_path / "paper.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_repository_file_loads_and_names_only_known_checks():
    claims, numbers, regime = load_paper_numbers(ROOT / "config/paper_numbers.yaml")
    assert {c.id for c in claims} == set(CHECKS)
    assert all(c.source for c in claims)
    assert numbers and all(n.source and n.whose for n in numbers)
    # the anchors of shared/anchor-numbers.md, each labelled by whose it is, never the paper's
    assert {n.whose for n in numbers} == {
        "LLaVA's own POPE evaluation",
        "independent greedy rerun",
        "third-party rerun of the official pipeline",
        "VCD paper, Table 1",
    }
    assert {n.table for n in numbers} == {"calibration", "readings", "contrastive"}
    official = [n for n in numbers if n.table == "readings"]
    assert {n.reading for n in official} == {"official"} and {n.method for n in official} == {
        "naive", "none", "unk", "both"
    }  # fmt: skip
    vcd = [n for n in numbers if n.whose == "VCD paper, Table 1"]
    assert all(n.std is not None for n in vcd) and {n.model for n in vcd} == {
        "llava-1.5-7b", "instructblip-vicuna-7b", "qwen-vl"
    }  # fmt: skip
    assert (regime.model, regime.benchmark) == ("llava-1.5-7b", "pope_coco")
    assert any(n.whose == regime.whose and n.metric == "yes_ratio" for n in numbers)


def _entry(**change):
    """A published entry with every field, ``change`` applied (``None`` removes the field)."""
    entry = {"whose": "VCD paper, Table 1", "source": "arXiv 2311.16922", "model": "m", "benchmark": "pope",
             "beside": {"table": "calibration"}, "rows": [{"split": "random", "method": "none", "f1": 80.0}],
             **change}  # fmt: skip
    return {k: v for k, v in entry.items() if v is not None}


def test_bad_entries_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"claims\[0\] has unknown id 'nope'"):
        load_paper_numbers(_write(tmp_path, {"claims": [{"id": "nope", "source": "x", "claim": "y"}]}))
    with pytest.raises(ValueError, match=r"published\[0\] needs whose"):
        load_paper_numbers(_write(tmp_path, {"published": [_entry(whose=None)]}))
    with pytest.raises(ValueError, match=r"unknown top-level keys \['numbers'\]"):
        load_paper_numbers(_write(tmp_path, {"numbers": []}))
    with pytest.raises(ValueError, match=r"published\[0\].rows\[0\].f1: could not convert"):
        load_paper_numbers(_write(tmp_path, {"published": [_entry(rows=[{"split": "s", "method": "m", "f1": "x"}])]}))
    with pytest.raises(ValueError, match=r"unknown: \['f2'\]"):
        load_paper_numbers(_write(tmp_path, {"published": [_entry(rows=[{"split": "s", "method": "m", "f2": 1}])]}))
    with pytest.raises(ValueError, match=r"beside.table 'tables' is not one of"):
        load_paper_numbers(_write(tmp_path, {"published": [_entry(beside={"table": "tables"})]}))


def _outputs(tmp_path):
    calibration = pd.DataFrame(
        {
            "split": ["random", "random", "random", "popular", "popular", "popular"],
            "method": ["naive", "none", "noise"] * 2,
            "f1": [0.70, 0.75, 0.60, 0.68, 0.66, 0.50],
            "accuracy": [0.71, 0.76, 0.62, 0.69, 0.70, 0.55],
        }
    )
    bins = pd.DataFrame(
        {
            "bin": ["0.5-0.6"] * 2 + ["0.9-1"] * 2,
            "lo": [0.5, 0.5, 0.9, 0.9],
            "method": ["none", "noise"] * 2,
            "gain": [0.10, 0.02, -0.01, -0.20],
            "enough": [True, True, True, True],
        }
    )
    decoding = pd.DataFrame(
        {
            "benchmark": ["pope"],
            "default_config": ["T=1"],
            "default": [0.65],
            "best_overall_config": ["T=0.2"],
            "best_overall": [0.72],
            "gain": [0.07],
        }
    )
    contrastive = pd.DataFrame(
        {
            "benchmark": "pope",
            "split": ["random"] * 4 + ["popular"] * 4,
            "setting": "default",
            "method": ["naive", "vcd", "vdd-none", "vdd-both"] * 2,
            "f1": [0.70, 0.72, 0.74, 0.80, 0.60, 0.61, 0.70, 0.62],
        }
    )
    chair = pd.DataFrame({"setting": "default", "method": ["naive", "vcd", "vdd-unk"], "chair_s": [0.40, 0.30, 0.45]})
    tables = {
        "pope/calibration": calibration,
        "pope/confidence_bins": bins,
        "decoding": decoding,
        "contrastive": contrastive,
        "chair": chair,
    }
    paths = {}
    for key, table in tables.items():
        paths[key] = tmp_path / f"{key.replace('/', '_')}.csv"
        table.to_csv(paths[key], index=False)
    return paths


def test_claims_are_checked_on_this_runs_tables(tmp_path):
    claims, _, _ = load_paper_numbers(ROOT / "config/paper_numbers.yaml")
    outputs = _outputs(tmp_path)
    rows = {r["source"] + " " + r["paper"][:20]: r for r in claim_rows(claims, outputs)}
    by_claim = {r["paper"].split(" ")[0]: r for r in claim_rows(claims, outputs, "pope/calibration")}
    # none beats naive F1 on random (0.75 > 0.70), not on popular (0.66 < 0.68): 1/2, not a majority
    assert by_claim["Post-hoc"]["this run"] == "F1 above naive on none 1/2 splits"
    assert by_claim["Post-hoc"]["agrees"] == "no"
    bins = claim_rows(claims, outputs, "pope/confidence_bins")
    assert [r["agrees"] for r in bins] == ["yes", "yes"]  # +10 low vs -1 high; noise -20 in the top bin
    assert "+10.0 points in the lowest bin, -1.0 in the highest" in bins[0]["this run"]
    decoding = claim_rows(claims, outputs, "decoding")[0]
    assert decoding["this run"].startswith("expected F1 65.0 at the default (T=1) → 72.0 at the best (T=0.2)")
    assert "84.04" in decoding["paper"]
    # claims whose tables this run lacks are left out (the attention check: tests/test_attention.py)
    assert not any("MMMU" in r["paper"] for r in rows.values())
    assert claim_rows(claims, outputs, "attention") == []
    # VDD: vdd-none averages 72.0 F1 over the splits, vdd-both 71.0, naive 65.0; CHAIR_s of vdd-unk above naive
    vdd = claim_rows(claims, outputs, "contrastive")[0]
    assert (vdd["this run"], vdd["agrees"]) == (
        "POPE F1 (splits averaged): best VDD vdd-none 72.0 vs naive 65.0, VCD 66.5",
        "yes",
    )
    chair = claim_rows(claims, outputs, "chair")[0]
    assert (chair["this run"], chair["agrees"]) == (
        "CHAIR_s: best VDD vdd-unk 45.0 % vs naive 40.0 %, VCD 30.0 %",
        "no",
    )


def test_published_numbers_sit_beside_ours_with_the_delta(tmp_path):
    published = [
        _entry(model="llava-1.5-7b", rows=[{"split": "random", "method": "none", "f1": 80.0, "accuracy": [70.0, 0.5]}]),
        _entry(model="llava-1.5-13b", rows=[{"split": "random", "method": "none", "f1": 81.0}]),
        _entry(model="llava-1.5-7b", rows=[{"split": "adversarial", "method": "none", "f1": 70.0}]),  # not run
        _entry(
            model="llava-1.5-7b",
            whose="third party",
            beside={"table": "contrastive", "setting": "default"},
            rows=[{"split": "popular", "method": "vdd-none", "f1": 75.0}],
        ),
    ]
    _, numbers, _ = load_paper_numbers(_write(tmp_path, {"published": published}))
    outputs = _outputs(tmp_path)
    table = number_rows(numbers, "llava-1.5-7b", outputs)
    assert table.drop(columns="std").to_dict("records") == [
        {
            "whose": "VCD paper, Table 1",
            "benchmark": "pope",
            "split": "random",
            "method": "none",
            "metric": "accuracy",
            "this run": pytest.approx(76.0),
            "published": 70.0,
            "delta": pytest.approx(6.0),
            "source": "arXiv 2311.16922",
        },
        {
            "whose": "VCD paper, Table 1",
            "benchmark": "pope",
            "split": "random",
            "method": "none",
            "metric": "f1",
            "this run": pytest.approx(75.0),
            "published": 80.0,
            "delta": pytest.approx(-5.0),
            "source": "arXiv 2311.16922",
        },
        {
            "whose": "third party",
            "benchmark": "pope",
            "split": "popular",
            "method": "vdd-none (generation, default setting)",
            "metric": "f1",
            "this run": pytest.approx(70.0),
            "published": 75.0,
            "delta": pytest.approx(-5.0),
            "source": "arXiv 2311.16922",
        },
    ]
    assert table["std"].isna().tolist() == [False, True, True] and table["std"][0] == 0.5  # (yaml sorts the keys)
    assert number_rows(numbers, None, outputs).empty


def test_the_regime_stands_beside_a_model_without_published_numbers(tmp_path):
    regime = {"whose": "LLaVA", "model": "llava-1.5-7b", "benchmark": "pope_coco"}
    published = [
        _entry(whose="LLaVA", model="llava-1.5-7b", benchmark="pope_coco",
               rows=[{"split": "random", "method": "naive", "f1": 87.18, "yes_ratio": 41.7},
                     {"split": "adversarial", "method": "naive", "f1": 84.5}]),
        _entry(whose="other", model="llava-1.5-7b", benchmark="pope_coco",
               rows=[{"split": "random", "method": "naive", "f1": 50.0}]),
    ]  # fmt: skip
    _, numbers, loaded = load_paper_numbers(_write(tmp_path, {"published": published, "regime": regime}))
    table = regime_rows(numbers, loaded, _outputs(tmp_path))
    # the embedded run's POPE is `pope`; its naive random F1 is 0.70; no yes_ratio column, no adversarial split
    assert table.to_dict("records") == [
        {"split": "random", "metric": "f1", "this model": pytest.approx(70.0), "llava-1.5-7b": 87.18}
    ]
    assert regime_rows(numbers, None, _outputs(tmp_path)).empty


def test_claims_find_a_pope_family_benchmark_by_any_name(tmp_path):
    """The paper config names POPE on COCO `pope_coco`: the POPE claims read its tables as they read `pope`'s."""
    claims, _, _ = load_paper_numbers(ROOT / "config/paper_numbers.yaml")
    outputs = _outputs(tmp_path)
    renamed = {k.replace("pope/", "pope_coco/"): v for k, v in outputs.items()}
    for key in ("decoding", "contrastive"):
        table = pd.read_csv(renamed[key]).replace({"benchmark": {"pope": "pope_coco"}})
        table.to_csv(renamed[key], index=False)
    texts = {r["this run"] for r in claim_rows(claims, renamed)}
    assert texts == {r["this run"] for r in claim_rows(claims, outputs)}
