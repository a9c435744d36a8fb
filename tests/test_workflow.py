"""The whole workflow on a small config, through the real `snakemake` command line."""

import copy
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from conftest import ROOT

pytestmark = pytest.mark.slow


def _small_config(default_config):
    config = copy.deepcopy(default_config)
    config["world"].update(n_train_images=80, n_eval_images=12, image_size=32)
    model = config["models"]["shapes-llava"]
    model["architecture"].update(image_size=32, vision_hidden=32, text_hidden=64)
    model["training"].update(vision_steps=10, vision_images=100, text_steps=40, visual_steps=20, text_corpus_size=500)
    config["benchmarks"]["pope"]["n_images"] = 12
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


def test_small_run_produces_tables_figures_and_report(default_config, tmp_path):
    configfile = tmp_path / "small.yaml"
    configfile.write_text(yaml.safe_dump(_small_config(default_config)))
    run = _snakemake(tmp_path, configfile)
    assert run.returncode == 0, run.stderr[-3000:]

    table = pd.read_csv(tmp_path / "results/shapes-llava/pope/calibration.csv")
    assert len(table) == 12
    assert set(table["split"]) == {"random", "popular", "adversarial"}
    assert list(table["method"][:4]) == ["naive", "none", "unk", "both"]
    assert table[["accuracy", "f1", "yes_ratio"]].apply(lambda c: c.between(0, 1)).all().all()

    scores = pd.read_csv(tmp_path / "results/shapes-llava/pope/random/label_probs.csv")
    assert set(scores["probe"]) == {"naive", "none", "unk"}
    for name in ("calibration.png", "calibration.pdf"):
        assert (tmp_path / "results/shapes-llava/pope" / name).stat().st_size > 1000

    html = (tmp_path / "results/report.html").read_text()
    assert "data:image/png;base64," in html and "Model card" in html
    assert 'src="http' not in html and "<script src" not in html  # self-contained
    log = (tmp_path / "logs/shapes-llava/pope/random/label_probs.log").read_text()
    assert "saved by the per-prompt reference cache" in log and "naive" in log

    again = _snakemake(tmp_path, configfile, "-n")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
