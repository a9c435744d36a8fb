"""The official code's reading (scoring.official) against hand-worked examples, and its stored logits against full
forward passes of a tiny LLaVA."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import write_questions

from lvlm_debias.analysis.readings import reading_deltas, reading_table
from lvlm_debias.benchmarks import official_convention
from lvlm_debias.decoding.vdd import contrast
from lvlm_debias.inputs.probes import probe_inputs
from lvlm_debias.models.prompts import LLAVA_HF, build_prompt, without_image_line
from lvlm_debias.scoring.cache import logit_store
from lvlm_debias.scoring.first_token import FirstTokenSpec
from lvlm_debias.scoring.official import (
    OfficialSettings,
    official_answers,
    official_calibrate,
    official_label_probs,
    official_predictions,
    read_labels,
    warped_log_probs,
)
from lvlm_debias.scoring.score import YES_NO, next_token_logits, score_questions
from lvlm_debias.scoring.store import LogitStore, decoded_label_index

POPE, MME = official_convention("pope"), official_convention("mme")
SETTINGS = OfficialSettings(temperature=1.0, alpha=1.0, beta=0.2, contrast="vdd-both", top_k=0)

# One question, four stored tokens of the naive first step, descending: "yes", "no", "Yes" (a variant of yes), other.
NAIVE = np.array([[2.0, 1.0, 0.5, -3.0]])
LABEL = np.array([[0, 1, 0, -1]])
AT_NONE = np.array([[1.0, 1.5, 0.0, 0.0]])
AT_UNK = np.array([[3.0, 0.5, 1.0, 0.0]])


def test_the_contrasted_first_step_is_read_as_by_hand():
    # l_ref = mean(None, Unk) = [2, 1, 0.5, 0]; cut = log 0.2 + 2 = 0.3906: the fourth token is cut.
    # c = 2 l - l_ref = [2, 1, 0.5]; softmax: e^2, e^1, e^0.5 over 11.7555 = 0.62853, 0.23122, 0.14024.
    logp, exact = warped_log_probs(NAIVE, None, 1.0, 0, (AT_NONE + AT_UNK) / 2, alpha=1.0, beta=0.2)
    np.testing.assert_allclose(np.exp(logp[0, :3]), [0.62853, 0.23122, 0.14024], atol=1e-5)
    assert logp.shape == (1, 3) and exact.tolist() == [True]  # the cut 4th token (and all past it) left out
    # only the first "yes" is kept (0.62853), the variant "Yes" (0.14024) is dropped, not summed
    np.testing.assert_allclose(read_labels(logp, LABEL, 2, 10), [[0.62853, 0.23122]], atol=1e-5)
    # at temperature 0.5 the survivors' scores double: e^4, e^2, e^1 over 64.7053 = 0.84379, 0.11420, 0.04201
    logp, _ = warped_log_probs(NAIVE, None, 0.5, 0, (AT_NONE + AT_UNK) / 2, alpha=1.0, beta=0.2)
    np.testing.assert_allclose(read_labels(logp, LABEL, 2, 10), [[0.84379, 0.11420]], atol=1e-5)


def test_a_cut_that_lets_unstored_tokens_through_is_flagged():
    flat = np.array([[0.1, 0.05, 0.0, -0.1]])  # all within log(0.2) of the max: the 5th token may pass too
    _, exact = warped_log_probs(flat, None, 1.0, 0, np.zeros_like(flat), alpha=1.0, beta=0.2)
    assert exact.tolist() == [False]


def test_a_plain_reference_uses_the_whole_vocabulary_normaliser_and_the_top_k_warper():
    logits, labels = np.array([[1.2, 0.8, -1.0, -2.0]]), np.array([[1, 0, -1, -1]])
    # p = exp(l - log_z): no e^-0.8 = 0.44933, yes e^-1.2 = 0.30119
    logp, exact = warped_log_probs(logits, np.array([2.0]), 1.0, 0)
    np.testing.assert_allclose(read_labels(logp, labels, 2, 10), [[0.30119, 0.44933]], atol=1e-5)
    assert exact.tolist() == [True]
    # top-k 2 renormalises over the two largest: e^1.2 / (e^1.2 + e^0.8) = 0.59869, 0.40131
    logp, _ = warped_log_probs(logits, np.array([2.0]), 1.0, top_k=2)
    np.testing.assert_allclose(read_labels(logp, labels, 2, 10), [[0.40131, 0.59869]], atol=1e-5)
    # read_top 1 reads only the most probable token ("no")
    np.testing.assert_allclose(read_labels(logp, labels, 2, 1), [[0.0, 0.59869]], atol=1e-5)


def test_the_official_calibration_by_hand():
    p = np.array([[0.62853, 0.23122]])
    none, unk = np.array([[0.30119, 0.44933]]), np.array([[0.36788, 0.33287]])
    # None: p = [0.73106, 0.26894]; p_ref = [0.40131, 0.59869] + 1e-4; q = [0.80218, 0.19782]
    np.testing.assert_allclose(official_calibrate(p, [none], POPE), [[0.80218, 0.19782]], atol=1e-4)
    # Both: (none + unk) / sum = [0.46102, 0.53898] + 1e-4; q ∝ [1.58541, 0.49889] = [0.76064, 0.23936]
    np.testing.assert_allclose(official_calibrate(p, [none, unk], POPE), [[0.76064, 0.23936]], atol=1e-4)
    # where 1e-4 matters: a reference with almost no label mass. POPE normalises it first (p_ref = [2/3, 1/3] + eps,
    # q = [0.57616, 0.42384]); MME does not (p_ref = [3e-4, 2e-4]: q ∝ [2436.9, 1344.7] = [0.64441, 0.35559]).
    tiny = np.array([[2e-4, 1e-4]])
    np.testing.assert_allclose(official_calibrate(p, [tiny], POPE), [[0.57616, 0.42384]], atol=1e-4)
    np.testing.assert_allclose(official_calibrate(p, [tiny], MME), [[0.64441, 0.35559]], atol=1e-4)
    # a flip: naive says yes (0.55), the reference leans to yes more strongly (0.9): calibrated "no"
    q = official_calibrate(np.array([[0.55, 0.45]]), [np.array([[0.9, 0.1]])], POPE)
    assert official_predictions(q).tolist() == [1]


def test_no_label_mass_answers_yes_as_numpy_does_there():
    q = official_calibrate(np.array([[0.0, 0.0], [0.2, 0.1]]), [np.array([[0.5, 0.5], [0.0, 0.0]])], POPE)
    assert np.isnan(q).all(axis=1).tolist() == [True, True]
    assert official_predictions(q).tolist() == [0, 0]


def _store(**extra) -> LogitStore:
    arrays = {
        "question_id": np.array([7]),
        "naive_logits": NAIVE,
        "naive_label": LABEL,
        "naive_log_z": np.array([[5.0]]),
        "at_none": AT_NONE,
        "at_unk": AT_UNK,
        "none_logits": np.array([[1.2, 0.8, -1.0, -2.0]]),
        "none_label": np.array([[1, 0, -1, -1]]),
        "none_log_z": np.array([[2.0]]),
        "unk_logits": np.array([[0.5, 0.4, -1.0, -2.0]]),
        "unk_label": np.array([[0, 1, -1, -1]]),
        "unk_log_z": np.array([[1.5]]),
        "temperatures": np.array([1.0]),
        "vocab_size": np.array(1000),
    }
    return LogitStore({**arrays, **extra})


def test_the_whole_official_pipeline_on_one_question_by_hand():
    read = official_label_probs(_store(), SETTINGS, 2, POPE)
    np.testing.assert_allclose(read["naive"][0], [[0.62853, 0.23122]], atol=1e-5)
    np.testing.assert_allclose(read["none"][0], [[0.30119, 0.44933]], atol=1e-5)  # e^-1.2, e^-0.8
    np.testing.assert_allclose(read["unk"][0], [[0.36788, 0.33287]], atol=1e-5)  # e^-1, e^-1.1
    # without the contrast the naive step is plain sampling: exp(l - 5)
    plain = official_label_probs(_store(), OfficialSettings(1.0, 1.0, 0.2, "none", 0), 2, POPE)
    np.testing.assert_allclose(plain["naive"][0], [[math.exp(-3), math.exp(-4)]], atol=1e-7)
    questions = pd.DataFrame({"label": ["no"], "subset": ["s"], "image": ["a.png"]}, index=pd.Index([7]))
    answered = official_answers(_store(), questions, SETTINGS, ["yes", "no"], POPE)
    assert {m: a["prediction"].tolist() for m, a in answered.items()} == {
        "naive": ["yes"],
        "none": ["yes"],
        "unk": ["yes"],
        "both": ["yes"],
    }
    assert answered["both"]["exact"].tolist() == [True] and answered["naive"]["no_mass"].tolist() == [False]
    with pytest.raises(ValueError, match="no official reading"):
        official_convention("mmmu")
    with pytest.raises(ValueError, match="temperature 0.5 was not stored"):
        official_label_probs(_store(), OfficialSettings(0.5, 1.0, 0.2, "vdd-both", 0), 2, POPE)


@pytest.mark.parametrize(
    "values, match",
    [
        ({"temperature": 0}, "temperature"),
        ({"beta": 0}, "beta"),
        ({"alpha": -1}, "alpha"),
        ({"contrast": "vcd"}, "contrast"),
        ({"top_k": -1}, "top_k"),
    ],
)
def test_settings_name_the_bad_value(values, match):
    good = {"temperature": 1.0, "alpha": 1.0, "beta": 0.2, "contrast": "vdd-both", "top_k": 0}
    with pytest.raises(ValueError, match=match):
        OfficialSettings.from_dict({**good, **values})


def test_without_image_line_drops_the_placeholder_and_its_newline():
    assert without_image_line(build_prompt(LLAVA_HF, "Is there a star?")) == "USER: Is there a star? ASSISTANT:"
    assert without_image_line("<image>Is there a star?") == "Is there a star?"


# --- on a tiny LLaVA: what the scoring pass stores equals full forward passes ---------------------------------------


@pytest.fixture(scope="module")
def stored(tiny_llava, tmp_path_factory):
    model, processor = tiny_llava
    folder = tmp_path_factory.mktemp("official")
    questions = write_questions(folder, 6, labels=("yes", "no"))
    spec = FirstTokenSpec(10_000, (0.5, 1.0))  # the whole (tiny) vocabulary: every reading exact
    _, first, _ = score_questions(
        model,
        processor,
        questions,
        folder,
        template=LLAVA_HF,
        labels=YES_NO,
        probes=("naive",),
        store=spec,
        top_k=100,
        batch_size=32,
    )
    prompts = [build_prompt(LLAVA_HF, q["text"]) for q in questions]
    store = logit_store(
        model,
        processor,
        prompts,
        first.question_id,
        first.top_ids,
        first.top_logits,
        first.log_z,
        YES_NO,
        first.temperatures,
        batch_size=4,
    )
    return questions, prompts, first, store, folder


def test_the_stored_references_equal_full_forward_passes(tiny_llava, stored):
    model, processor = tiny_llava
    _, prompts, first, store, _ = stored
    full_none = next_token_logits(model, probe_inputs(processor, prompts, "none")).double().numpy()
    full_unk = next_token_logits(model, probe_inputs(processor, prompts, "unk")).double().numpy()
    np.testing.assert_allclose(store["at_none"], np.take_along_axis(full_none, first.top_ids, 1), atol=1e-5)
    np.testing.assert_allclose(store["at_unk"], np.take_along_axis(full_unk, first.top_ids, 1), atol=1e-5)
    texts = [without_image_line(p) for p in prompts]
    assert all("<image>" not in t and "\n" not in t for t in texts)
    full_text = next_token_logits(model, probe_inputs(processor, texts, "none")).double()
    np.testing.assert_allclose(store["none_logits"], full_text.sort(descending=True).values.numpy(), atol=1e-5)
    np.testing.assert_allclose(store.log_z("none", 0.5), torch.logsumexp(full_text / 0.5, -1).numpy(), atol=1e-5)
    labels = decoded_label_index(processor.tokenizer, YES_NO)
    assert labels[processor.tokenizer.convert_tokens_to_ids("yes")] == 0
    np.testing.assert_array_equal(store["unk_label"], labels[np.argsort(-full_unk, axis=1, kind="stable")])


def test_the_derived_reading_equals_the_contrast_on_the_whole_vocabulary(tiny_llava, stored):
    """The reading from stored logits against VDD-Both computed on full logit vectors with the decoding code's own
    contrast (methods.vdd.contrast), read by brute force over the whole vocabulary."""
    model, processor = tiny_llava
    questions, prompts, _, store, folder = stored
    naive = next_token_logits(model, probe_inputs(processor, prompts, "naive", [_img(folder, q) for q in questions]))
    ref = (
        next_token_logits(model, probe_inputs(processor, prompts, "none"))
        + next_token_logits(model, probe_inputs(processor, prompts, "unk"))
    ) / 2
    for t, beta in ((1.0, 0.2), (0.5, 0.05)):
        probs = torch.softmax(contrast(naive, ref, 1.0, beta) / t, dim=-1).double().numpy()
        labels = decoded_label_index(processor.tokenizer, YES_NO)
        expected = np.zeros((len(prompts), 2))
        for i, row in enumerate(probs):
            for token in np.argsort(-row, kind="stable")[:10]:
                if labels[token] >= 0 and expected[i, labels[token]] == 0:
                    expected[i, labels[token]] = row[token]
        settings = OfficialSettings(t, 1.0, beta, "vdd-both", 0)
        got, exact = official_label_probs(store, settings, 2, POPE)["naive"]
        assert exact.all()
        np.testing.assert_allclose(got, expected, atol=1e-5)


def _img(folder, question):
    from PIL import Image

    with Image.open(folder / question["image"]) as image:
        return image.convert("RGB")


def test_the_reading_table_holds_both_readings(tiny_llava, stored):
    model, processor = tiny_llava
    questions, _, _, store, folder = stored
    probes = ["naive", "none", "unk", "noise", "zero", "one"]
    scores, _, _ = score_questions(
        model, processor, questions, folder, template=LLAVA_HF, labels=YES_NO, probes=probes, top_k=100, batch_size=32
    )
    gathered = scores.assign(subset="s", image=scores["question_id"].astype(str))
    table = reading_table({"random": gathered}, {"random": store}, ["none", "unk", "both"], "pope", SETTINGS)
    assert table[["method", "reading"]].values.tolist() == [
        [m, r] for m in ("naive", "none", "unk", "both") for r in ("clean", "official")
    ]
    assert (table["n"] == len(questions)).all() and table["exact"].dropna().between(0, 1).all()
    deltas = reading_deltas(table, "pope")
    np.testing.assert_allclose(deltas["f1_change"], deltas["f1_official"] - deltas["f1_clean"])
