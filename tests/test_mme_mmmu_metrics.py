"""MME (acc, acc+, score, totals) and MMMU (accuracy by subject) against hand-computed examples."""

import pandas as pd
import pytest

from lvlm_debias.metrics import accuracy_by_subject, mme_scores, mme_totals

# existence: image e1 has both questions right; image e2 has one of two right ("yes" answered "no").
#   acc = 3/4, acc+ = 1/2 (e1 only), score = 75 + 50 = 125.
# count: image e1 (same name, other subtask: a separate image) has one right, one answered "other" (wrong).
#   acc = 1/2, acc+ = 0/1, score = 50.
MME = pd.DataFrame(
    [
        ("existence", "e1", "yes", "yes"),
        ("existence", "e1", "no", "no"),
        ("existence", "e2", "yes", "no"),
        ("existence", "e2", "no", "no"),
        ("count", "e1", "yes", "yes"),
        ("count", "e1", "no", "other"),
    ],
    columns=["subtask", "image", "label", "prediction"],
)


def test_mme_scores_hand_computed():
    scores = mme_scores(MME)
    assert list(scores.columns) == ["subtask", "n", "acc", "acc_plus", "score"]
    assert list(scores["subtask"]) == ["existence", "count"]  # order of first appearance, not alphabetical
    assert list(scores["n"]) == [4, 2]
    assert list(scores["acc"]) == pytest.approx([3 / 4, 1 / 2])
    assert list(scores["acc_plus"]) == pytest.approx([1 / 2, 0.0])
    assert list(scores["score"]) == pytest.approx([125.0, 50.0])


def test_mme_perfect_subtask_scores_200():
    df = pd.DataFrame({"subtask": "ocr", "image": ["a", "a"], "label": ["yes", "no"], "prediction": ["yes", "no"]})
    assert mme_scores(df)["score"].item() == pytest.approx(200.0)


def test_mme_totals():
    totals = mme_totals(mme_scores(MME), {"perception": ["existence", "count"], "cognition": ["count"]})
    assert list(totals.columns) == ["group", "score", "subtasks"]
    assert list(totals["group"]) == ["perception", "cognition"]
    assert list(totals["score"]) == pytest.approx([175.0, 50.0])
    assert list(totals["subtasks"]) == [2, 1]


def test_mme_errors_name_the_problem():
    with pytest.raises(ValueError, match="'code_reasoning'"):
        mme_totals(mme_scores(MME), {"cognition": ["count", "code_reasoning"]})
    with pytest.raises(ValueError, match=r"missing \['image'\]"):
        mme_scores(MME.drop(columns="image"))
    with pytest.raises(ValueError, match="'Yes'"):
        mme_scores(MME.assign(label=["Yes", "no", "yes", "no", "yes", "no"]))


def test_accuracy_by_subject_is_micro_averaged():
    # art: 2/3 right; math: 0/1 (an unparsed answer, None, is wrong). overall = 2/4, not the macro mean 1/3.
    df = pd.DataFrame(
        {
            "subject": ["art", "art", "math", "art"],
            "label": ["A", "B", "C", "D"],
            "prediction": ["A", "C", None, "D"],
        }
    )
    out = accuracy_by_subject(df)
    assert list(out.columns) == ["subject", "n", "accuracy"]
    assert list(out["subject"]) == ["art", "math", "overall"]
    assert list(out["n"]) == [3, 1, 4]
    assert list(out["accuracy"]) == pytest.approx([2 / 3, 0.0, 0.5])


def test_accuracy_by_subject_errors():
    with pytest.raises(ValueError, match=r"missing \['prediction'\]"):
        accuracy_by_subject(pd.DataFrame({"subject": ["a"], "label": ["A"]}))
    with pytest.raises(ValueError, match="'overall'"):
        accuracy_by_subject(pd.DataFrame({"subject": ["overall"], "label": ["A"], "prediction": ["A"]}))
