"""The paper's findings and numbers beside this run's: loading config/paper_numbers.yaml and the checks."""

import pandas as pd
import pytest
import yaml
from conftest import ROOT

from lvlm_debias.report.paper import CHECKS, claim_rows, load_paper_numbers, number_rows


def _write(tmp_path, data):
    path = tmp_path / "paper.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_repository_file_loads_and_names_only_known_checks():
    claims, numbers = load_paper_numbers(ROOT / "config/paper_numbers.yaml")
    assert {c.id for c in claims} == set(CHECKS)
    assert all(c.source for c in claims)
    assert all(n.source for n in numbers)


def _number(**change):
    """A paper-number entry with every field, ``change`` applied (``None`` removes the field)."""
    entry = {"model": "m", "benchmark": "pope", "split": "s", "method": "naive", "metric": "f1", "value": 80.0,
             "source": "Table 1", **change}  # fmt: skip
    return {k: v for k, v in entry.items() if v is not None}


def test_bad_entries_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"claims\[0\] has unknown id 'nope'"):
        load_paper_numbers(_write(tmp_path, {"claims": [{"id": "nope", "source": "x", "claim": "y"}]}))
    with pytest.raises(ValueError, match=r"numbers\[0\] misses \['value'"):
        load_paper_numbers(_write(tmp_path, {"numbers": [_number(value=None)]}))
    with pytest.raises(ValueError, match=r"unknown top-level keys \['tables'\]"):
        load_paper_numbers(_write(tmp_path, {"tables": []}))
    with pytest.raises(ValueError, match=r"numbers\[0\]: could not convert"):
        load_paper_numbers(_write(tmp_path, {"numbers": [_number(value="high")]}))


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
    claims, _ = load_paper_numbers(ROOT / "config/paper_numbers.yaml")
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


def test_numbers_sit_beside_ours_with_the_delta(tmp_path):
    random = {"split": "random", "method": "none"}
    numbers = [
        _number(model="llava-1.5-7b", **random),
        _number(model="llava-1.5-13b", value=81.0, **random),
        _number(model="llava-1.5-7b", split="adversarial", method="none", value=70.0),
    ]
    path = _write(tmp_path, {"numbers": numbers})
    _, numbers = load_paper_numbers(path)
    outputs = _outputs(tmp_path)
    table = number_rows(numbers, "llava-1.5-7b", outputs)
    assert table.to_dict("records") == [
        {
            "benchmark": "pope",
            "split": "random",
            "method": "none",
            "metric": "f1",
            "this run": pytest.approx(75.0),
            "paper": 80.0,
            "delta": pytest.approx(-5.0),
            "source": "Table 1",
        }
    ]
    assert number_rows(numbers, None, outputs).empty


def test_claims_find_a_pope_family_benchmark_by_any_name(tmp_path):
    """The paper config names POPE on COCO `pope_coco`: the POPE claims read its tables as they read `pope`'s."""
    claims, _ = load_paper_numbers(ROOT / "config/paper_numbers.yaml")
    outputs = _outputs(tmp_path)
    renamed = {k.replace("pope/", "pope_coco/"): v for k, v in outputs.items()}
    for key in ("decoding", "contrastive"):
        table = pd.read_csv(renamed[key]).replace({"benchmark": {"pope": "pope_coco"}})
        table.to_csv(renamed[key], index=False)
    texts = {r["this run"] for r in claim_rows(claims, renamed)}
    assert texts == {r["this run"] for r in claim_rows(claims, outputs)}
