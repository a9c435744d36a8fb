"""The probe registry: its kinds decide how a probe runs, the schema's probe enums are its keys, and a toy probe
registered in a few lines runs through first-token scoring (both paths the workflow uses)."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import write_questions

from lvlm_debias.calibration import CALIBRATION_METHODS
from lvlm_debias.decoding.methods import DECODING_METHODS
from lvlm_debias.inputs.noise import stable_seed
from lvlm_debias.inputs.probes import PROBES, Probe, get_probe, probe_seeds, registered
from lvlm_debias.models.prompts import LLAVA_HF
from lvlm_debias.scoring.attention import attention_probes
from lvlm_debias.scoring.cache import pair_questions, score_pairs
from lvlm_debias.scoring.first_token import FirstTokenSpec
from lvlm_debias.scoring.pairs import distinct_pairs, image_batches
from lvlm_debias.scoring.score import YES_NO, score_questions

SCHEMA = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "schema.yaml").read_text())


def _enum(*path: str) -> list[str]:
    node = SCHEMA["properties"]
    for key in path[:-1]:
        node = node[key]["properties"]
    return node[path[-1]]["items"]["enum"]


def test_the_schemas_probe_enums_are_the_registrys_keys():
    # prior probing takes every probe that keeps the question (na asks "N/A" instead)
    assert _enum("prior_probing", "probes") == [p for p in PROBES if p != "na"]
    assert _enum("attention", "probes") == attention_probes() == [p for p in PROBES if p not in ("unk", "na")]
    # every probe a calibration method or a contrastive decoding method reads is registered
    assert {p for method in CALIBRATION_METHODS.values() for p in method.probes} <= set(PROBES)
    assert {p for method in DECODING_METHODS.values() for p in method.references} <= set(PROBES)


def test_how_a_probe_runs_follows_from_its_kind():
    assert [name for name, p in PROBES.items() if p.per_image] == ["naive", "noise", "vcd-noise"]
    assert [name for name, p in PROBES.items() if p.kind == "text"] == ["none", "unk", "na"]
    assert [name for name, p in PROBES.items() if p.question is not None] == ["na"]
    assert [name for name, p in PROBES.items() if p.seeded] == ["noise", "vcd-noise"]
    # a seeded probe's seeds are (seed, probe name, image), as the Noise probe's and VCD's always were
    assert probe_seeds("noise", 3, ["a.png", "b.png"]) == [
        stable_seed(3, "noise", "a.png"),
        stable_seed(3, "noise", "b.png"),
    ]
    assert probe_seeds("vcd-noise", 3, ["a.png"]) == [stable_seed(3, "vcd-noise", "a.png")]
    assert probe_seeds("zero", 3, ["a.png"]) is None


def test_a_probe_is_checked_when_it_is_made():
    with pytest.raises(ValueError, match="kind must be one of"):
        Probe("audio", "sound")
    with pytest.raises(ValueError, match="needs `pixels`"):
        Probe("blank", "pixel")
    with pytest.raises(ValueError, match="needs `ids`"):
        Probe("drop", "text")
    with pytest.raises(ValueError, match="only a pixel probe"):
        Probe("seeded-text", "text", ids=lambda ids, image_id, unk_id: list(ids), seeded=True)
    with pytest.raises(ValueError, match="unknown probe 'invert'; known probes"):
        get_probe("invert")


#: a toy pixel probe: each processed image negated (it reads the image, so it runs once per question)
INVERT = Probe("invert", "pixel", pixels=lambda pixels, seeds, map_images: -pixels, reads_image=True)
#: a toy text probe: the image token replaced by two <unk> (no pixels: once per distinct prompt)
TWO_UNK = Probe(
    "two-unk", "text", ids=lambda ids, image, unk: [u for t in ids for u in ([unk, unk] if t == image else [t])]
)


def test_registered_adds_a_probe_for_the_block_only():
    with registered(INVERT):
        assert PROBES["invert"] is INVERT
        with pytest.raises(ValueError, match="already registered"):
            with registered(INVERT):
                pass
    assert "invert" not in PROBES
    with pytest.raises(ValueError, match="already registered"):
        with registered(Probe("naive", "image")):
            pass
    assert PROBES["naive"].kind == "image"


def test_a_toy_probe_runs_through_first_token_scoring(tiny_llava, tmp_path):
    model, processor = tiny_llava
    questions = write_questions(tmp_path, 6, labels=("yes", "no"))  # 3 distinct prompts
    common = dict(template=LLAVA_HF, labels=YES_NO, top_k=100, seed=0)
    with registered(INVERT), registered(TWO_UNK):
        scores, _, passes = score_questions(
            model, processor, questions, tmp_path, probes=["naive", "invert", "unk", "two-unk"], batch_size=32, **common
        )
        # the shard path: distinct pairs, each image's prefix computed once
        pairs = distinct_pairs({"random": questions})
        shard, _, _ = score_pairs(
            model, processor, pairs.pairs, image_batches(pairs.pairs, 4), tmp_path,
            probes=["naive", "invert"], store=FirstTokenSpec(top=5), **common,
        )  # fmt: skip
    assert passes == {"naive": 6, "invert": 6, "unk": 3, "two-unk": 3}
    by_probe = {p: t.set_index("question_id")[["p_yes", "p_no"]].to_numpy() for p, t in scores.groupby("probe")}
    assert all(len(rows) == 6 for rows in by_probe.values())
    assert not np.allclose(by_probe["invert"], by_probe["naive"], atol=1e-6)
    assert not np.allclose(by_probe["two-unk"], by_probe["unk"], atol=1e-6)
    assert not np.allclose(by_probe["two-unk"], by_probe["naive"], atol=1e-6)
    # the toy probe reads the image: different images under one prompt get different answers
    assert not np.allclose(by_probe["invert"][0], by_probe["invert"][3], atol=1e-6)
    # both paths give the toy probe the same rows
    ids = [q["question_id"] for q in pair_questions(pairs.pairs)]
    assert ids == [q["question_id"] for q in questions]
    shared = shard[shard["probe"] == "invert"].set_index("question_id").loc[ids, ["p_yes", "p_no"]].to_numpy()
    np.testing.assert_allclose(shared, by_probe["invert"], atol=1e-5)
    # gone after the block
    assert "invert" not in PROBES and "two-unk" not in PROBES
    with pytest.raises(ValueError, match="unknown probes"):
        score_questions(model, processor, questions, tmp_path, probes=["invert"], batch_size=32, **common)
    assert torch.equal(INVERT.pixels(torch.ones(1, 3, 2, 2), None, None), -torch.ones(1, 3, 2, 2))
