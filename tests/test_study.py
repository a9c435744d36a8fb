"""The controlled study (config/study.yaml, `make study`): the shared stage-0 tower, batch calibration, the gain
tables, the findings' text, the figure, the study report, and the study's DAG."""

import numpy as np
import pandas as pd
import pytest
import torch

from lvlm_debias.config import world_spec
from lvlm_debias.data.jsonl import read_jsonl
from lvlm_debias.embedded.corpus import Prior
from lvlm_debias.embedded.tiny_llava import TinyLlavaSpec
from lvlm_debias.embedded.train import TrainSettings, load_vision_tower, save_vision_tower, train_tiny_llava
from lvlm_debias.world.scenes import write_world

WORLD = {
    "image_size": 32,
    "shapes": ["circle", "square", "triangle", "star"],
    "colours": ["red", "green", "blue"],
    "scenes": [["circle", "square"], ["triangle", "star"]],
    "scene_weights": [0.6, 0.4],
}
ARCH = TinyLlavaSpec(image_size=32, patch_size=16, vision_hidden=32, vision_layers=1, text_hidden=32, text_layers=1,
                     max_positions=64)  # fmt: skip
STEPS = {
    "vision_steps": 6,
    "vision_images": 40,
    "vision_dense_weight": 1.0,
    "text_steps": 4,
    "align_steps": 3,
    "visual_steps": 4,
    "caption_steps": 2,
    "batch_size": 8,
    "text_corpus_size": 200,
}


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    write_world(root, world_spec({"world": WORLD}), n_train=30, n_eval=0, seed=0)
    return root, [r for r in read_jsonl(root / "annotations.jsonl") if r["split"] == "train"]


def _train(scenes, yes_rate, vision_tower=None, **steps):
    root, train = scenes
    return train_tiny_llava(
        train, root, world_spec({"world": WORLD}), prior=Prior(yes_rate=yes_rate), spec=ARCH,
        settings=TrainSettings(**{**STEPS, **steps}), seed=3, vision_tower=vision_tower,
    )  # fmt: skip


def _same(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_saved_tower_loads_as_it_was_and_replaces_stage_0_at_any_yes_rate(scenes, tmp_path):
    low = _train(scenes, 0.5)
    path = tmp_path / "tower.safetensors"
    save_vision_tower(low.model, path)
    loaded = load_vision_tower(path)
    assert all(torch.equal(loaded[k], v) for k, v in low.model.model.vision_tower.state_dict().items())
    assert loaded.keys() == low.model.model.vision_tower.state_dict().keys()
    # through stage 0 at yes_rate 0.95 trains the tower of yes_rate 0.5 (same seed) ...
    high = _train(scenes, 0.95)
    assert _same(high.model.model.vision_tower, low.model.model.vision_tower)
    assert not _same(high.model, low.model)  # ... but another language model
    # ... and loading the 0.5 tower instead of running stage 0 gives the 0.95 model, bit for bit
    reused = _train(scenes, 0.95, vision_tower=path)
    assert _same(reused.model, high.model)
    assert reused.card["vision_tower"] == str(path) and "vision_images" not in reused.card["stage_seconds"]
    # the stage-0-only run of the study's tower job (stages a to c at 0 steps) trains the same tower
    only = _train(scenes, 0.8, text_steps=0, align_steps=0, visual_steps=0, caption_steps=0)
    assert _same(only.model.model.vision_tower, low.model.model.vision_tower)


# --- batch calibration -------------------------------------------------------------------------------------------


def test_batch_reference_is_the_mean_normalised_distribution_and_follows_resample_weights():
    from lvlm_debias.calibration import REFERENCE_EPS, reference_batch

    p_raw = np.array([[0.6, 0.2], [0.1, 0.1]])  # normalised: [0.75, 0.25], [0.5, 0.5]
    np.testing.assert_allclose(reference_batch(p_raw), [0.625 + REFERENCE_EPS, 0.375 + REFERENCE_EPS])
    # resample 1 draws question 0 twice; resample 2 draws question 1 once (weights need not sum to N)
    refs = reference_batch(p_raw, np.array([[2.0, 0.0], [0.0, 1.0]]))
    np.testing.assert_allclose(refs, [[0.75 + REFERENCE_EPS, 0.25 + REFERENCE_EPS], [0.5 + 1e-4, 0.5 + 1e-4]])


def _scores(naive, refs=None, labels=None, **cols):
    """A scores frame of one model and level: ``naive`` (N, 2) raw p_yes, p_no; ``refs`` probe -> (N, 2)."""
    labels = labels or ["yes"] * len(naive)
    rows = []
    for probe, p in {"naive": naive, **(refs or {})}.items():
        for i, (yes, no) in enumerate(p):
            rows.append({"question_id": i, "probe": probe, "label": labels[i], "p_yes": yes, "p_no": no, **cols})

    return pd.DataFrame(rows)


def test_batch_calibration_divides_by_the_splits_mean_naive_distribution():
    from lvlm_debias.analysis.calibration import debiased

    # normalised naive rows [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]: mean [0.6, 0.4]
    # q ∝ p / (mean + eps): [1.5, 0.25] -> yes; [0.99983, 0.99975] -> yes (barely); [0.5, 1.75] -> no
    q = debiased(_scores([[0.9, 0.1], [0.3, 0.2], [0.3, 0.7]]), "batch")
    np.testing.assert_allclose(q.loc[0, "yes"], (0.9 / 0.6001) / (0.9 / 0.6001 + 0.1 / 0.4001))
    assert list(q.to_numpy().argmax(axis=1)) == [0, 0, 1]


# --- the gain tables ---------------------------------------------------------------------------------------------


def _grid():
    """Two seeds of one cell (yes_rate 0.9, level hard), four questions: yes, yes, no, no.

    Raw naive P(yes) / P(no) and the None reference (the same for every question, a prompt-only probe):
      seed 0: naive says yes to all four (0.9, 0.8, 0.7, 0.6); None [0.8, 0.2] -> calibrated: 0.9/0.8 vs 0.1/0.2
              -> yes (1.125 > 0.5); 0.8/0.8 = 1 vs 0.2/0.2 = 1 -> tie broken by eps towards yes; 0.7 -> 0.875 vs 1.5
              -> no; 0.6 -> no. Naive accuracy 2/4, None 4/4: gain +0.5. Naive F1 = 2*2/(2*2+2) = 2/3, None 1.
      seed 1: naive already right: 0.9, 0.7, 0.2, 0.1 -> yes yes no no; None [0.5, 0.5] keeps it: gain 0.
    Mean over seeds: accuracy gain +0.25, F1 gain (1 - 2/3) / 2 = 1/6.
    """

    labels = ["yes", "yes", "no", "no"]
    frames = []
    for seed, p_yes, ref in ((0, [0.9, 0.8, 0.7, 0.6], [0.8, 0.2]), (1, [0.9, 0.7, 0.2, 0.1], [0.5, 0.5])):
        naive = [[p, 1 - p] for p in p_yes]
        frames.append(_scores(naive, {"none": [ref] * 4}, labels, yes_rate=0.9, seed=seed, level="hard"))
    return pd.concat(frames, ignore_index=True)


def test_study_table_has_each_seeds_metrics_and_gain_over_naive():
    from lvlm_debias.analysis.study import study_table

    table = study_table(_grid(), ["none"]).set_index(["seed", "method"])
    assert table.loc[(0, "naive"), "accuracy"] == 0.5 and table.loc[(0, "none"), "accuracy"] == 1.0
    assert table.loc[(0, "none"), "gain_accuracy"] == 0.5 and table.loc[(1, "none"), "gain_accuracy"] == 0.0
    np.testing.assert_allclose(table.loc[(0, "none"), "gain_f1"], 1 / 3)
    assert table.loc[(0, "naive"), "yes_ratio"] == 1.0 and table.loc[(0, "none"), "yes_ratio_change"] == -0.5


def test_gain_table_pools_seeds_with_a_paired_interval():
    from lvlm_debias.analysis.study import gain_table

    gain = gain_table(_grid(), ["none", "batch"], resamples=200, seed=0).set_index(["method", "metric"])
    np.testing.assert_allclose(gain.loc[("none", "accuracy"), "gain"], 0.25)
    np.testing.assert_allclose(gain.loc[("none", "f1"), "gain"], 1 / 6)
    row = gain.loc[("none", "accuracy")]
    assert row.low <= row.gain <= row.high and row.seeds == 2 and row.n == 4
    assert set(gain["verdict"]) <= {"yes", "no", "inconclusive"}


def test_gain_table_estimate_of_batch_calibration_matches_the_per_seed_table():
    from lvlm_debias.analysis.study import gain_table, study_table

    grid = _grid()
    table = study_table(grid, ["batch"])
    expected = table[table["method"] == "batch"]["gain_accuracy"].mean()
    gain = gain_table(grid, ["batch"], resamples=50, seed=1)
    np.testing.assert_allclose(gain[gain["metric"] == "accuracy"]["gain"].iloc[0], expected)


def test_gain_table_rejects_seeds_that_answer_different_questions():
    from lvlm_debias.analysis.study import gain_table

    grid = _grid()
    grid = grid[~((grid["seed"] == 1) & (grid["question_id"] == 3))]
    with pytest.raises(ValueError, match="different questions"):
        gain_table(grid, ["none"], resamples=10)


# --- the findings' text ------------------------------------------------------------------------------------------


def _constructed():
    """A 2 x 2 grid (yes_rate 0.5, 0.95 x level easy, hard) of one method: it helps only at 0.95/hard, hurts at
    0.5/easy."""

    gain = pd.DataFrame(
        [
            (0.5, "easy", -0.02, -0.03, -0.01, "no"),
            (0.5, "hard", 0.01, -0.01, 0.03, "inconclusive"),
            (0.95, "easy", 0.00, -0.01, 0.01, "inconclusive"),
            (0.95, "hard", 0.12, 0.08, 0.16, "yes"),
        ],
        columns=["yes_rate", "level", "gain", "low", "high", "verdict"],
    ).assign(method="unk", metric="accuracy", seeds=2, n=100)
    table = pd.DataFrame(
        [(r, lv, s, "naive", y) for r, lv, y in ((0.5, "easy", 0.5), (0.5, "hard", 0.4), (0.95, "easy", 0.55),
                                                    (0.95, "hard", 0.9)) for s in (0, 1)],
        columns=["yes_rate", "level", "seed", "method", "yes_ratio"],
    )  # fmt: skip
    confidence = pd.DataFrame(
        [
            ("0.5-0.75", 0.5, 0.75, "unk", 60, 0.10),
            ("0.75-0.9", 0.75, 0.9, "unk", 40, -0.05),
            ("0.9-1", 0.9, 1.0, "unk", 0, np.nan),
        ],  # an empty bin is passed over
        columns=["bin", "lo", "hi", "method", "n", "gain"],
    )
    return table, gain, confidence


def test_findings_state_what_the_table_shows():
    from lvlm_debias.analysis.study import study_findings

    lines = study_findings(*_constructed(), levels=["easy", "hard"])
    assert lines[0] == (
        "Naive yes-ratio (mean over seeds) from the weakest to the strongest injected prior: easy: 50.0 % at yes_rate "
        "0.5, 55.0 % at 0.95; hard: 40.0 % at yes_rate 0.5, 90.0 % at 0.95."
    )
    assert lines[1] == (
        "Calibration with the unk reference raises accuracy (95 % interval above 0) in 1 of 4 cells (yes_rate/level: "
        "0.95/hard), lowers it in 1 (yes_rate/level: 0.5/easy), and is inconclusive in 2. Accuracy gain in points "
        "from yes_rate 0.5 to 0.95: easy -2.0 to +0.0; hard +1.0 to +12.0."
    )
    assert lines[2].startswith("The largest accuracy gain is +12.0 points [+8.0, +16.0] (unk reference, yes_rate 0.95")
    assert "smallest accuracy gain is -2.0 points" in lines[3]
    assert lines[4] == (
        "By naive confidence, pooled over the grid: accuracy gain in points in the lowest bin (0.5-0.75) vs the "
        "highest (0.75-0.9): unk +10.0 (n = 60) vs -5.0 (n = 40)."
    )


def test_findings_follow_the_table_when_it_shows_the_opposite():
    from lvlm_debias.analysis.study import study_findings

    table, gain, confidence = _constructed()
    flipped = gain.assign(gain=-gain["gain"], low=-gain["high"], high=-gain["low"])
    flipped["verdict"] = flipped["verdict"].map({"yes": "no", "no": "yes", "inconclusive": "inconclusive"})
    line = study_findings(table, flipped, confidence, ["easy", "hard"])[1]
    assert "raises accuracy (95 % interval above 0) in 1 of 4 cells (yes_rate/level: 0.5/easy)" in line
    assert "lowers it in 1 (yes_rate/level: 0.95/hard)" in line
    none = study_findings(table, gain.assign(verdict="inconclusive"), confidence, ["easy", "hard"])[1]
    assert "in 0 of 4 cells, lowers it in 0, and is inconclusive in 4." in none


# --- the workflow ------------------------------------------------------------------------------------------------


def _snakemake(workdir, configfile, *extra, cores=2):
    import subprocess
    import sys

    from conftest import ROOT

    return subprocess.run(
        [sys.executable, "-m", "snakemake", *extra, "--cores", str(cores), "--snakefile", str(ROOT / "Snakefile"),
         "--directory", str(workdir), "--configfile", str(configfile)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def _job_counts(stdout):
    """Job stats of a dry run: rule -> count."""
    import re

    table = stdout.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def test_study_dag_trains_one_tower_per_seed_and_one_model_per_yes_rate_and_seed(tmp_path):
    import yaml
    from conftest import ROOT

    study = yaml.safe_load((ROOT / "config/study.yaml").read_text())["study"]
    run = _snakemake(tmp_path, ROOT / "config/study.yaml", "-n", "--quiet", "rules")
    assert run.returncode == 0, run.stderr[-3000:]
    counts = _job_counts(run.stdout + run.stderr)
    seeds, rates, levels = len(study["seeds"]), len(study["yes_rates"]), len(study["levels"])
    assert counts["study_tower"] == seeds and counts["study_model"] == rates * seeds
    assert counts["study_level"] == levels and counts["study_scores"] == rates * seeds
    assert counts["shapes_world"] == 1 and "shapes_llava" not in counts and "pope_scores" not in counts
    assert {"study_tables", "study_figure", "study_report"} <= set(counts)
    # the default config's DAG holds no study job
    default = _snakemake(tmp_path / "default", ROOT / "config.yaml", "-n", "--quiet", "rules")
    assert default.returncode == 0, default.stderr[-3000:]
    assert not [rule for rule in _job_counts(default.stdout + default.stderr) if rule.startswith("study")]


MINI_TRAINING = {"vision_steps": 4, "vision_images": 40, "text_steps": 6, "align_steps": 3, "visual_steps": 6,
                 "caption_steps": 0, "batch_size": 8, "text_corpus_size": 200}  # fmt: skip


@pytest.mark.slow
def test_a_miniature_study_writes_its_tables_figure_and_section(tmp_path):
    """The study end to end on a miniature config (32-pixel world, a few steps per stage, one seed, two yes_rates,
    two levels): the CSVs, the figure and the report's "When does debiasing help?" section."""
    import yaml
    from conftest import ROOT

    config = yaml.safe_load((ROOT / "config/study.yaml").read_text())
    config["world"].update(WORLD, n_train_images=40, n_eval_images=2)
    config["benchmarks"]["pope"]["n_images"] = 2
    model = config["models"]["shapes-llava"]
    model["architecture"].update(image_size=32, vision_hidden=32, vision_layers=1, text_hidden=32, text_layers=1)
    model["training"].update(MINI_TRAINING)
    model["prior"]["colour"] = "red"
    config["study"].update(
        yes_rates=[0.5, 0.95], seeds=[0], levels={"easy": {"hard_share": 0.0}, "hard": {"hard_share": 1.0}},
        n_images=6, bootstrap_resamples=50,
    )  # fmt: skip
    configfile = tmp_path / "mini.yaml"
    configfile.write_text(yaml.safe_dump(config))
    run = _snakemake(tmp_path / "work", configfile)
    assert run.returncode == 0, run.stderr[-4000:]
    out = tmp_path / "work/results/study"
    table, gain = pd.read_csv(out / "study.csv"), pd.read_csv(out / "gain.csv")
    assert len(table) == 2 * 2 * 5 and set(table["method"]) == {"naive", "none", "unk", "both", "batch"}
    assert len(gain) == 2 * 2 * 4 * 2 and set(gain["verdict"]) <= {"yes", "no", "inconclusive"}
    assert (gain["low"] <= gain["gain"] + 1e-12).all() and (gain["gain"] <= gain["high"] + 1e-12).all()
    assert set(pd.read_csv(out / "gain_by_confidence.csv")["level"]) == {"easy", "hard"}
    assert (out / "gain_vs_prior.png").stat().st_size > 0 and (out / "gain_vs_prior.pdf").stat().st_size > 0
    html = (out / "report.html").read_text()
    assert "When does debiasing help?" in html and "data:image/png;base64," in html
    assert "Calibration with the batch reference raises accuracy" in html
    card = (tmp_path / "work/data/study/models/yes0.95_seed0/model_card.json").read_text()
    assert "towers/seed0.safetensors" in card
