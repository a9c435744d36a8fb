"""The paper's findings and numbers beside this run's: loading config/paper_numbers.yaml and the checks."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT

from lvlm_debias.analysis.calibration import calibration_table, method_bins
from lvlm_debias.analysis.generation import contrastive_table
from lvlm_debias.report.paper import (
    CHECKS,
    CLAIM_COLUMNS,
    Bootstrap,
    claim_rows,
    load_paper_numbers,
    number_rows,
    regime_rows,
)


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


def _tables(tmp_path):
    """Hand-made aggregated tables (the published numbers and the regime stand beside their rows)."""
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


def _label_probs(rng, n, probes):
    """POPE label probabilities of ``n`` questions (half yes): naive yes-biased (it says yes to almost everything,
    more surely on yes questions); the text-only probes a yes prior without the image (p_yes 0.7); the image probes
    noise around the naive answer."""
    gold = np.array(["yes", "no"] * (n // 2))
    p_yes = np.clip(np.where(gold == "yes", 0.8, 0.6) + rng.normal(0, 0.08, n), 0.05, 0.95)
    rows = []
    for probe in probes:
        if probe == "naive":
            p = p_yes
        elif probe in ("none", "unk"):
            p = np.clip(0.7 + rng.normal(0, 0.02, n), 0.05, 0.95)
        else:
            p = np.clip(p_yes + rng.normal(0, 0.2, n), 0.05, 0.95)
        rows.append(
            pd.DataFrame(
                {"question_id": np.arange(n), "probe": probe, "label": gold, "p_yes": 0.9 * p, "p_no": 0.9 * (1 - p)}
            )
        )
    return pd.concat(rows, ignore_index=True)


def _mmmu(rng, answerable=True):
    """MMMU label probabilities: subject "facts" answered alike with and without the image (text-answerable) when
    ``answerable``, else only with it; subject "shape" answered right only with the image."""
    rows = []
    for i in range(80):
        subset = "facts" if i < 40 else "shape"
        gold = "ABCD"[i % 4]
        for probe in ("naive", "none", "unk"):
            seen = probe == "naive" or (subset == "facts" and answerable)
            answer = gold if seen else "ABCD"[(i + 1) % 4]
            p = {f"p_{k}": (0.7 if k == answer else 0.1) for k in "ABCD"}
            rows.append({"question_id": i, "probe": probe, "label": gold, "subset": subset, **p})
    return pd.DataFrame(rows)


def _answers(n, predictions):
    """Answers by generation of ``n`` POPE questions (half yes) per method: ``predictions[method]`` (n,)."""
    gold = np.array(["yes", "no"] * (n // 2))
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "setting": "default",
                    "config": "T=1,p=1,k=0",
                    "method": m,
                    "question_id": np.arange(n),
                    "label": gold,
                    "subset": "pope",
                    "image": [f"{i // 2}.png" for i in range(n)],
                    "prediction": p,
                    "answer": p,
                    "parser": "vcd",
                }
            )
            for m, p in predictions.items()
        ],
        ignore_index=True,
    )


def _flip(gold, k):
    """``gold`` with the first ``k`` answers wrong."""
    out = gold.copy()
    out[:k] = np.where(out[:k] == "yes", "no", "yes")
    return out


def _sweep_questions(n):
    """Per configuration and question: the default says yes with 0.6 whatever the image (F1 = 2 * 60 / (2 * 60 + 60
    + 40) = 6/11 on 200 questions), T=0.2 mostly right (F1 = 180 / 200 = 0.9), greedy in between."""
    gold = np.array(["yes", "no"] * (n // 2))
    yes = gold == "yes"
    frames = []
    for config, p_yes in (
        ("T=1,p=1,k=0", np.full(n, 0.6)),
        ("T=0.2,p=1,k=0", np.where(yes, 0.9, 0.1)),
        ("greedy", np.where(yes, 0.7, 0.3)),
    ):
        frames.append(
            pd.DataFrame(
                {
                    "config": config,
                    "question_id": np.arange(n),
                    "label": gold,
                    "p_yes": p_yes,
                    "p_no": 1 - p_yes,
                    "p_other": 0.0,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _outputs(tmp_path):
    rng = np.random.default_rng(0)
    probes = ["naive", "none", "unk", "noise", "zero"]
    scores = {split: _label_probs(rng, 400, probes) for split in ("random", "popular")}
    methods = ["none", "unk", "both", "noise", "zero"]
    calibration = calibration_table(scores, methods)
    n = 200
    gold = np.array(["yes", "no"] * (n // 2))
    # vdd-none far better than naive, vdd-both the same as naive: the paper's VDD (vdd-both) shows no gain
    contrastive = {
        split: _answers(
            n,
            {
                "naive": _flip(gold, 60),
                "vcd": _flip(gold, 50),
                "vdd-none": _flip(gold, 10),
                "vdd-both": _flip(gold, 60),
            },
        )
        for split in ("random", "popular")
    }
    # CHAIR_s: naive 40 %, vdd-both 38 % (2 points on 100 captions: noise), vdd-unk 10 %
    hallucinated = {
        "naive": np.arange(100) < 40,
        "vdd-both": (np.arange(100) >= 2) & (np.arange(100) < 40),
        "vdd-unk": np.arange(100) < 10,
    }
    chair = pd.concat(
        [
            pd.DataFrame(
                {
                    "setting": "default",
                    "config": "T=1",
                    "method": m,
                    "question_id": np.arange(100),
                    "hallucinated": h.astype(int),
                    "mentions": 2,
                }
            )
            for m, h in hallucinated.items()
        ]
    )
    decoding = pd.DataFrame(
        {
            "benchmark": ["pope"],
            "default_config": ["T=1,p=1,k=0"],
            "default": [6 / 11],
            "best_overall_config": ["T=0.2,p=1,k=0"],
            "best_overall": [0.9],
            "gain": [0.9 - 6 / 11],
        }
    )
    prior = pd.DataFrame(
        {
            "question": ["What colour is the heart?"] * 2,
            "probe": ["none", "naive"],
            "rank": [1, 1],
            "answer": ["red", "blue"],
            "probability": [0.7, 0.4],
        }
    )
    tables = {
        "pope/calibration": calibration,
        "pope/confidence_bins": method_bins(scores, methods, "pope"),
        "decoding": decoding,
        "contrastive": contrastive_table({f"pope/{k}": v for k, v in contrastive.items()}),
        "chair_captions": chair,
        "prior_probing": prior,
        "mmmu/validation/label_probs": _mmmu(rng),
        **{f"pope/{split}/label_probs": table for split, table in scores.items()},
        **{f"contrastive/pope/{split}/default": table for split, table in contrastive.items()},
        **{f"pope/{split}/sweep_questions": _sweep_questions(n) for split in ("random", "popular")},
    }
    paths = {}
    for key, table in tables.items():
        paths[key] = tmp_path / f"{key.replace('/', '_')}.csv"
        table.to_csv(paths[key], index=False)
    return paths


def _rows(claims, outputs):
    return {r["id"]: r for r in claim_rows(claims, outputs, bootstrap=Bootstrap(seed=0, resamples=1000))}


def test_claims_are_checked_on_this_runs_per_question_outputs(tmp_path):
    claims, _, _ = load_paper_numbers(ROOT / "config/paper_numbers.yaml")
    outputs = _outputs(tmp_path)
    rows = _rows(claims, outputs)
    assert set(rows) == set(CHECKS) - {
        "attention_text_dominates",
        "attention_image_falls_with_depth",
        "attention_image_falls_in_generation",
    }  # attention: tests/test_attention.py
    assert all(list(r) == CLAIM_COLUMNS for r in rows.values())
    calibration = pd.read_csv(outputs["pope/calibration"]).set_index(["method", "split"])["f1"]
    # text-only calibration: each method's ΔF1 is the calibration table's, averaged over the splits; the verdict
    # reads their mean, and the naive yes-bias the references remove makes it a sure gain
    text = rows["text_references_improve_pope"]
    delta = {m: 100 * (calibration[m] - calibration["naive"]).mean() for m in ("none", "unk", "both")}
    assert text["estimate"] == f"{np.mean(list(delta.values())):+.1f} points" and text["verdict"] == "yes"
    for m, d in delta.items():
        assert f"{m} {d:+.1f} [" in text["this run"]
    assert "the verdict reads the mean of the three methods' ΔF1" in text["this run"]
    # confidence bins: the check's numbers are the bins table's gains (lowest and highest bins with enough questions)
    bins = pd.read_csv(outputs["pope/confidence_bins"])
    enough = bins[bins["enough"]]
    low, high = enough[enough["lo"] == enough["lo"].min()], enough[enough["lo"] == enough["lo"].max()]
    gain = lambda t, ms: 100 * t[t["method"].isin(ms)]["gain"].mean()  # noqa: E731
    low_gain = rows["gains_at_low_confidence"]
    assert (
        low_gain["estimate"]
        == f"{gain(low, ('none', 'unk', 'both')) - gain(high, ('none', 'unk', 'both')):+.1f} points"
    )
    hurt = rows["image_references_hurt_confident"]
    assert (
        hurt["estimate"] == f"{gain(high, ('noise', 'zero')):+.1f} points" and "noise/zero averaged" in hurt["quantity"]
    )
    # MMMU: "facts" answered alike without the image: its gap is 0 in every resample, "shape" far below: the largest
    # gap's interval is [0, 0], which "matches or beats" allows
    mmmu = rows["text_answerable_subsets"]
    assert (mmmu["estimate"], mmmu["interval"], mmmu["verdict"]) == ("+0.0 points", "[+0.0, +0.0]", "yes")
    assert "matches or beats the image on 1/2 subsets (facts)" in mmmu["this run"]
    # decoding: F1 6/11 at the default, 0.9 at the selected best, on 200 questions per split
    decoding = rows["decoding_moves_pope_f1"]
    assert decoding["estimate"] == f"{100 * (0.9 - 6 / 11):+.1f} points" and decoding["verdict"] == "yes"
    assert (
        "selected as the highest of 3 configurations on these same questions: an optimistic estimate"
        in (decoding["this run"])
    )
    assert "84.04" in decoding["paper"]
    # VDD: vdd-both is compared, not the best VDD (vdd-none's +25 points are shown beside it, not in the verdict)
    vdd = rows["vdd_improves_pope"]
    assert (vdd["estimate"], vdd["interval"], vdd["verdict"]) == ("+0.0 points", "[+0.0, +0.0]", "inconclusive")
    assert "vdd-none +" in vdd["this run"] and "vcd +" in vdd["this run"]
    # CHAIR_s: 2 points on 100 captions is noise; vdd-unk's -30 is shown beside it
    chair = rows["vdd_reduces_hallucination"]
    assert (chair["estimate"], chair["verdict"]) == ("-2.0 points", "inconclusive")
    assert "vdd-unk -30.0 [" in chair["this run"]
    prior = rows["prior_answers_without_image"]
    assert (prior["estimate"], prior["interval"], prior["verdict"]) == ("p = 0.70", "none (deterministic)", "yes")
    assert "deterministic measurement on 1 fixed question (no sampling, so no interval)" in prior["this run"]
    # claims whose tables this run lacks are left out
    assert claim_rows(claims, outputs, "attention", bootstrap=Bootstrap(seed=0, resamples=2000)) == []
    # a rerun with the same seed gives the same rows; another seed other intervals
    assert _rows(claims, outputs) == rows
    other = claim_rows(claims, outputs, "pope/calibration", bootstrap=Bootstrap(seed=1, resamples=1000))[0]
    assert other["estimate"] == text["estimate"] and other["interval"] != text["interval"]


def test_verdicts_turn_with_the_evidence(tmp_path):
    """The same checks say "no" when the effect goes the other way for sure, and "yes" once it is large enough."""
    claims, _, _ = load_paper_numbers(ROOT / "config/paper_numbers.yaml")
    outputs = _outputs(tmp_path)
    _mmmu(np.random.default_rng(0), answerable=False).to_csv(outputs["mmmu/validation/label_probs"], index=False)
    n = 200
    gold = np.array(["yes", "no"] * (n // 2))
    for split in ("random", "popular"):  # vdd-both now wrong on 100 more questions than naive
        _answers(n, {"naive": _flip(gold, 20), "vdd-both": _flip(gold, 120)}).to_csv(
            outputs[f"contrastive/pope/{split}/default"], index=False
        )
    chair = pd.read_csv(outputs["chair_captions"])
    chair.loc[chair["method"] == "vdd-both", "hallucinated"] = 0  # 40 % -> 0 %
    chair.to_csv(outputs["chair_captions"], index=False)
    rows = _rows(claims, outputs)
    assert rows["text_answerable_subsets"]["verdict"] == "no"
    assert rows["vdd_improves_pope"]["verdict"] == "no"
    assert (rows["vdd_reduces_hallucination"]["estimate"], rows["vdd_reduces_hallucination"]["verdict"]) == (
        "-40.0 points",
        "yes",
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
    outputs = _tables(tmp_path)
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
    table = regime_rows(numbers, loaded, _tables(tmp_path))
    # the embedded run's POPE is `pope`; its naive random F1 is 0.70; no yes_ratio column, no adversarial split
    assert table.to_dict("records") == [
        {"split": "random", "metric": "f1", "this model": pytest.approx(70.0), "llava-1.5-7b": 87.18}
    ]
    assert regime_rows(numbers, None, _tables(tmp_path)).empty


def test_claims_find_a_pope_family_benchmark_by_any_name(tmp_path):
    """The paper config names POPE on COCO `pope_coco`: the POPE claims read its tables as they read `pope`'s."""
    claims, _, _ = load_paper_numbers(ROOT / "config/paper_numbers.yaml")
    outputs = _outputs(tmp_path)
    (tmp_path / "coco").mkdir()
    renamed = {}
    for key, path in outputs.items():
        table = pd.read_csv(path)
        if "benchmark" in table.columns:
            table = table.replace({"benchmark": {"pope": "pope_coco"}})
        renamed[key.replace("pope/", "pope_coco/")] = tmp_path / "coco" / Path(path).name
        table.to_csv(renamed[key.replace("pope/", "pope_coco/")], index=False)
    texts = [(r["id"], r["this run"]) for r in _rows(claims, renamed).values()]
    assert texts == [(r["id"], r["this run"]) for r in _rows(claims, outputs).values()] and len(texts) == 8


def test_a_confidence_bin_left_empty_by_a_resample_has_no_gain_rather_than_nan():
    """With a small calibration.min_bin_count a resample can leave a bin empty: its gain there is 0, not 0/0
    (the report check would otherwise fail the whole report, as a tiny Qwen2.5-VL run did)."""
    from lvlm_debias.report.checks import _gains

    members = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])  # q0 in the low bin, q1 and q2 in the high one
    right = np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 0.0]])  # naive, one method: +1 on q0, 0 on q1, -1 on q2
    weights = np.array([[1.0, 1.0, 1.0], [0.0, 2.0, 1.0]])  # the second resample draws no low-bin question
    gains = _gains([weights], [(members, right)])
    np.testing.assert_allclose(gains[0, :, 0], [1.0, -0.5])
    np.testing.assert_allclose(gains[1, :, 0], [0.0, -1 / 3])
    assert np.isfinite(gains).all()
