"""The benchmark registry: questions with subsets, headline metrics, answer parsers."""

import numpy as np
import pandas as pd
import pytest

from lvlm_debias.benchmarks import LETTERS, answer_parser, build_questions, metrics
from lvlm_debias.world.scenes import WorldSpec, generate_world


def _annotations():
    scenes = generate_world(WorldSpec(), 6, 0, "eval")
    return [{"image": f"images/{s.image_id}.png", **s.to_dict()} for s in scenes]


def test_questions_carry_their_subset():
    annotations = _annotations()
    mme = build_questions("mme", annotations, "all", {"subtasks": ["existence", "shape_facts"]}, 0)
    assert {q["subset"] for q in mme} == {"existence", "shape_facts"}
    pope = build_questions("pope", annotations, "popular", {"n_images": 3, "max_positives": 3}, 0)
    assert {q["subset"] for q in pope} == {"popular"}
    with pytest.raises(ValueError, match="benchmark 'mme' has no split 'random'"):
        build_questions("mme", annotations, "random", {}, 0)
    with pytest.raises(ValueError, match="unknown benchmark 'vqa'"):
        build_questions("vqa", annotations, "all", {}, 0)


def test_pope_counts_an_answer_that_is_neither_label_as_wrong():
    answers = pd.DataFrame({"label": ["yes", "no", "yes", "no"], "prediction": ["yes", "other", "other", "no"]})
    # other on a "no" question is a false positive, on a "yes" question a false negative: TP 1, FP 1, FN 1, TN 1
    m = metrics("pope", answers)
    assert m["accuracy"] == 0.5 and m["precision"] == 0.5 and m["recall"] == 0.5 and m["yes_ratio"] == 0.5


def test_mme_metrics_by_hand():
    # existence: image a both right, image b one right -> acc 3/4, acc+ 1/2, score 125
    # shape_facts: image a both wrong -> 0; perception 125, cognition 0
    answers = pd.DataFrame(
        {
            "subset": ["existence"] * 4 + ["shape_facts"] * 2,
            "pair": ["a", "a", "b", "b", "a", "a"],
            "label": ["yes", "no", "yes", "no", "yes", "no"],
            "prediction": ["yes", "no", "yes", "yes", "no", "yes"],
        }
    )
    m = metrics("mme", answers)
    assert m["score"] == pytest.approx(125) and m["perception_score"] == pytest.approx(125)
    assert m["cognition_score"] == 0 and m["accuracy"] == pytest.approx(3 / 6)


def test_answer_parsers():
    assert answer_parser("pope", "vcd")("I don't know", "no") == "no"  # VCD's substring rule
    assert answer_parser("pope", "llava")("No, there is not.", "yes") == "no"
    assert answer_parser("mme", "mme")("There is no cat.", "no") == "other"  # MME's first 4 characters: "ther"
    assert answer_parser("mme", "vcd")("There is no cat.", "no") == "no"  # POPE's parsers stay selectable
    assert answer_parser("mmmu", None)("The answer is (C).", "A") == "C"
    assert answer_parser("mmmu", "letter")("circle", "A") == "other"
    names = [answer_parser(*a).name for a in [("pope", "vcd"), ("mme", "mme"), ("mmmu", None)]]
    assert names == ["vcd", "mme", "letter"]  # what a table's parser column says
    with pytest.raises(ValueError, match=r"unknown yes/no parser 'gpt' for benchmark 'pope'.*benchmarks.pope.parser"):
        answer_parser("pope", "gpt")
    with pytest.raises(ValueError, match="unknown yes/no parser None"):
        answer_parser("mme", None)
    with pytest.raises(ValueError, match="option-letter parser only, not 'vcd'"):
        answer_parser("mmmu", "vcd")


def test_schema_defaults_mme_to_mmes_parser_and_pope_to_vcds():
    """The schema is the one place the defaults are written: validate() fills them in for a config that names none;
    every benchmark that reads yes/no answers has a parser, and the schema's choices are the known parsers."""
    import yaml
    from conftest import ROOT
    from snakemake.utils import validate

    from lvlm_debias.benchmarks import BENCHMARKS
    from lvlm_debias.metrics.parse import PARSERS

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    for settings in config["benchmarks"].values():
        settings.pop("parser", None)
    config["benchmarks"]["pope_gqa"] = {"dataset": "shapes_world"}
    validate(config, str(ROOT / "config/schema.yaml"))
    assert {name: b.get("parser") for name, b in config["benchmarks"].items()} == {
        "pope": "vcd", "mme": "mme", "mmmu": None, "pope_gqa": "vcd"}  # fmt: skip
    schema = yaml.safe_load((ROOT / "config/schema.yaml").read_text())["properties"]["benchmarks"]["properties"]
    for name, spec in BENCHMARKS.items():
        if spec.labels is not LETTERS:
            assert set(schema[name]["properties"]["parser"]["enum"]) == set(PARSERS), name


def test_pope_sources_use_popes_metrics():
    """pope_coco / pope_aokvqa / pope_gqa are POPE (same splits, labels and metrics). Checked to fail without the
    `family` field: metrics('pope_coco', ...) took the MME branch and raised on the missing subtask column."""
    import pandas as pd

    from lvlm_debias.benchmarks import benchmark, metrics

    answers = pd.DataFrame(
        {"label": ["yes", "no", "yes", "no"], "prediction": ["yes", "yes", "no", "no"], "subset": "random",
         "image": ["a", "a", "b", "b"]}
    )  # fmt: skip
    for name in ("pope_coco", "pope_aokvqa", "pope_gqa"):
        assert benchmark(name).splits == benchmark("pope").splits and benchmark(name).family == "pope"
        assert metrics(name, answers) == metrics("pope", answers)


def test_the_schemas_benchmarks_and_formats_are_the_registrys():
    """config/schema.yaml names exactly the registered benchmarks (``benchmarks``), the registered dataset formats
    (``datasets.<name>.format`` of a hub dataset; a URL dataset's is one of them), and each benchmark's splits."""
    import yaml
    from conftest import ROOT

    from lvlm_debias.benchmarks import BENCHMARKS, FORMATS, benchmark

    schema = yaml.safe_load((ROOT / "config/schema.yaml").read_text())["properties"]
    sections = schema["benchmarks"]["properties"]
    assert list(sections) == list(BENCHMARKS)
    dataset = schema["datasets"]["additionalProperties"]
    assert dataset["else"]["properties"]["format"]["enum"] == list(FORMATS)
    assert set(dataset["then"]["properties"]["format"]["enum"]) <= set(FORMATS)
    for name, section in sections.items():
        splits = section["properties"].get("splits")
        if splits is not None:
            assert splits["items"]["enum"] == splits["default"] == list(benchmark(name).splits), name
        else:
            assert len(benchmark(name).splits) == 1, f"benchmarks.{name} needs a `splits` setting"


@pytest.mark.parametrize("name", ["pope", "mme", "mmmu"])
def test_a_certain_distribution_expects_the_observed_metrics(name):
    """Expected metrics (the sweep's) of a distribution that puts all its mass on one answer per question are that
    answer's metrics: each benchmark's ``expected`` and ``metrics`` compute the same quantities."""
    from lvlm_debias.benchmarks import benchmark, expected_metrics

    labels = list(benchmark(name).labels)
    answers = pd.DataFrame(
        {
            "label": [labels[i % 2] for i in range(8)],
            "prediction": [labels[0], labels[1], "other", "other", labels[0], labels[0], labels[1], labels[1]],
            "subset": ["existence"] * 4 + ["count"] * 4,
            "pair": ["a", "a", "b", "b", "a", "a", "b", "b"],
        }
    )
    column = {label: i for i, label in enumerate(labels)} | {"other": len(labels)}
    dist = np.zeros((len(answers), len(labels) + 1))
    dist[np.arange(len(answers)), [column[p] for p in answers["prediction"]]] = 1.0
    expected = expected_metrics(name, dist, answers)
    observed = metrics(name, answers)
    assert set(expected) >= {"accuracy", benchmark(name).headline}
    assert expected == pytest.approx({k: observed[k] for k in expected})


# --- the worked example of docs/extending.md, "A new benchmark" ----------------------------------------------------
from lvlm_debias.benchmarks.base import Benchmark, accuracy  # noqa: E402
from lvlm_debias.scoring.labels import YES_NO  # noqa: E402


def build_colours(annotations, split, settings, seed):
    """Per image: is its first object's colour there (yes), is the first colour it lacks there (no)."""
    colours = sorted({obj["colour"] for a in annotations for obj in a["objects"]})
    questions = []
    for a in annotations[: settings["n_images"]]:
        present = {obj["colour"] for obj in a["objects"]}
        absent = [c for c in colours if c not in present]
        for colour, label in [(a["objects"][0]["colour"], "yes"), *[(c, "no") for c in absent[:1]]]:
            text = f"Is there anything {colour} in the image? Please answer yes or no."
            questions.append({"question_id": len(questions), "image": a["image"], "text": text, "label": label})
    return questions


def colour_metrics(answers):
    return {"accuracy": accuracy(answers["label"], answers["prediction"]),
            "yes_ratio": float((answers["prediction"] == "yes").mean())}  # fmt: skip


def colour_expected(label_dist, gold, answers):
    return {"yes_ratio": float(label_dist[:, 0].mean())}


COLOURS = Benchmark(name="colours", splits=("all",), labels=YES_NO, subset=None, headline="accuracy",
                    shown=("accuracy", "yes_ratio"), build=build_colours, metrics=colour_metrics,
                    expected=colour_expected)  # fmt: skip


def test_a_toy_benchmark_registered_in_one_line_runs_through_the_registry(monkeypatch):
    """The toy yes/no benchmark of docs/extending.md: one registry line, then its questions, the parsing of generated
    answers, its metrics and its expected metrics all go through the functions the workflow calls."""
    from lvlm_debias.benchmarks import BENCHMARKS, answer_parser, benchmark, expected_metrics

    monkeypatch.setitem(BENCHMARKS, "colours", COLOURS)  # in the library: a line of BENCHMARKS
    questions = build_questions("colours", _annotations(), "all", {"n_images": 2}, 0)
    assert [q["label"] for q in questions] == ["yes", "no", "yes", "no"]
    assert {q["subset"] for q in questions} == {"all"} and "anything" in questions[0]["text"]
    parse = answer_parser("colours", "vcd")
    texts = ["Yes, there is.", "No.", "I cannot tell.", "No, nothing is."]
    answers = pd.DataFrame(questions).assign(
        prediction=[parse(t, q["label"]) for t, q in zip(texts, questions, strict=True)]
    )
    assert parse.name == "vcd" and answers["prediction"].tolist() == ["yes", "no", "no", "no"]
    assert metrics("colours", answers) == {"accuracy": 0.75, "yes_ratio": 0.25}
    dist = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.5, 0.3, 0.2], [0.1, 0.9, 0.0]])
    assert expected_metrics("colours", dist, answers) == pytest.approx({"accuracy": 0.775, "yes_ratio": 0.425})
    assert benchmark("colours").headline == "accuracy"
    with pytest.raises(ValueError, match="benchmark 'colours' has no split 'random'"):
        build_questions("colours", _annotations(), "random", {"n_images": 2}, 0)
