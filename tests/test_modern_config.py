"""config/modern.yaml: today's open models (Qwen2.5-VL, LLaVA-OneVision, SmolVLM) through the paper's experiments.
It is the paper config with its models swapped, and it plans its whole job graph offline."""

import pytest
import yaml
from conftest import ROOT
from test_paper_config import dry_run, expected_counts

from lvlm_debias.models.prompts import IMAGE_PLACEHOLDER, build_prompt

MODERN = yaml.safe_load((ROOT / "config/modern.yaml").read_text())
PAPER = yaml.safe_load((ROOT / "config/paper.yaml").read_text())


def test_it_is_the_paper_config_with_other_models():
    assert {k: v for k, v in MODERN.items() if k != "models"} == {k: v for k, v in PAPER.items() if k != "models"}
    assert set(MODERN["models"]).isdisjoint(PAPER["models"])
    for name, entry in MODERN["models"].items():
        assert entry["source"] == "hub" and entry["revision"], name
        build_prompt(entry["prompt"], "Is there a dog in the image?")  # one {question}, one <image>
        assert entry["prompt"].index(IMAGE_PLACEHOLDER) < entry["prompt"].index("{question}"), name


@pytest.mark.slow
def test_modern_config_dry_run_plans_every_job_offline(tmp_path):
    """`snakemake -n --configfile config/modern.yaml` with an empty HF cache and no network plans the same jobs per
    model as the paper config."""
    _, counts = dry_run(tmp_path, "config/modern.yaml")
    for rule, n in expected_counts(MODERN).items():
        assert counts.get(rule) == n, (rule, counts)
    assert sum(counts.values()) - counts.get("total", 0) == 297 and counts["hub_model"] == 3
