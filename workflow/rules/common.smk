# Paths and input functions shared by the rules.
import re

from lvlm_debias.config import TRAINED_HERE, trained_models

MODELS = list(config["models"])
TRAINED = trained_models(config)
POPE = config["benchmarks"].get("pope")
POPE_SPLITS = POPE["splits"] if POPE else []
ENV = "../../envs/lvlm.yaml"


def one_of(names):
    """A wildcard pattern matching exactly ``names`` (and nothing when there are none)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


wildcard_constraints:
    model=one_of(MODELS),
    split=one_of(POPE_SPLITS),


def model_dir(model):
    """Where a model's checkpoint folder is: trained here, or the configured local folder / hub repo id."""
    source = config["models"][model]["source"]
    return f"data/models/{model}" if source == TRAINED_HERE else source


def model_inputs(wildcards):
    """The checkpoint folder as a job input when the workflow makes it (hub sources are loaded by id)."""
    return [model_dir(wildcards.model)] if wildcards.model in TRAINED else []


def pope_questions(wildcards):
    return f"data/{POPE['dataset']}/pope/{wildcards.split}.jsonl"


def all_outputs():
    outputs = ["results/report.html"]
    if POPE:
        outputs += expand("results/{model}/pope/calibration.csv", model=MODELS)
    return outputs
