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
    columns=["subtask", "pair", "label", "prediction"],
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
    df = pd.DataFrame({"subtask": "ocr", "pair": ["a", "a"], "label": ["yes", "no"], "prediction": ["yes", "no"]})
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
    with pytest.raises(ValueError, match=r"missing \['pair'\]"):
        mme_scores(MME.drop(columns="pair"))
    with pytest.raises(ValueError, match="1 of 6 questions have no `pair`"):
        mme_scores(MME.assign(pair=["e1", "e1", "e2", "e2", "e1", None]))
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


# lmms-lab/MME's 14 subtasks, their `category` names as MME's eval tool and lmms-eval spell them. Per subtask the
# outcome of its pairs: "both" right (acc 1, acc+ 1: score 200), "one" right (acc 1/2, acc+ 0: 50), "none" (0).
# OCR has two pairs, one both right and one with one right: acc 3/4, acc+ 1/2, score 75 + 50 = 125.
REAL_MME = {
    "existence": ["both"], "count": ["one"], "position": ["none"], "color": ["both"], "posters": ["one"],
    "celebrity": ["both"], "scene": ["none"], "landmark": ["one"], "artwork": ["both"], "OCR": ["both", "one"],
    "commonsense_reasoning": ["both"], "numerical_calculation": ["one"], "text_translation": ["none"],
    "code_reasoning": ["one"],
}  # fmt: skip


def _real_answers() -> pd.DataFrame:
    rows = []
    for subtask, outcomes in REAL_MME.items():
        for k, outcome in enumerate(outcomes):
            pair = f"{subtask}/{k:04d}.png"  # MME's question_id: one per image, shared by its two questions
            right = {"both": (True, True), "one": (True, False), "none": (False, False)}[outcome]
            for label, ok in zip(("yes", "no"), right, strict=True):
                wrong = "no" if label == "yes" else "yes"
                rows.append({"subset": subtask, "pair": pair, "label": label, "prediction": label if ok else wrong})
    return pd.DataFrame(rows)


def test_real_mme_totals_follow_the_official_grouping():
    """Perception sums the 10 perception subtasks, cognition the 4 cognition ones, by hand:
    perception = existence 200 + count 50 + position 0 + color 200 + posters 50 + celebrity 200 + scene 0
    + landmark 50 + artwork 200 + OCR 125 = 1075; cognition = commonsense 200 + numerical 50 + translation 0
    + code 50 = 300; score = 1375. Accuracy: 18 of 30 questions right. acc+ (mean over subtasks): 5 subtasks at 1
    (existence, color, celebrity, artwork, commonsense) and OCR at 1/2, so 5.5 / 14.
    Checked to fail without the feature: with ShapesWorld's groups, perception was existence + count + position
    = 250 and cognition 0."""
    from lvlm_debias.benchmarks import metrics, mme_groups

    answers = _real_answers()
    m = metrics("mme", answers)
    assert m["perception_score"] == pytest.approx(1075.0)
    assert m["cognition_score"] == pytest.approx(300.0)
    assert m["score"] == pytest.approx(1375.0)
    assert m["accuracy"] == pytest.approx(18 / 30)
    assert m["acc_plus"] == pytest.approx(5.5 / 14)
    source, groups = mme_groups(answers["subset"])
    assert source == "lmms-lab/MME" and len(groups["perception"]) == 10 and len(groups["cognition"]) == 4


def test_shapes_world_mme_keeps_its_groups():
    """ShapesWorld's subtasks (colour, shape_facts) are grouped by ShapesWorld's table: existence 200 + colour 50 =
    250 perception, shape_facts 0 cognition."""
    from lvlm_debias.benchmarks import metrics, mme_groups

    answers = pd.DataFrame(
        {
            "subset": ["existence"] * 2 + ["colour"] * 2 + ["shape_facts"] * 2,
            "pair": ["e:existence"] * 2 + ["e:colour"] * 2 + ["e:shape_facts"] * 2,
            "label": ["yes", "no"] * 3,
            "prediction": ["yes", "no", "yes", "yes", "no", "yes"],
        }
    )
    m = metrics("mme", answers)
    assert (m["perception_score"], m["cognition_score"], m["score"]) == pytest.approx((250.0, 0.0, 250.0))
    assert mme_groups(answers["subset"])[0] == "shapes_world"


def test_a_subtask_in_no_group_is_named_not_dropped():
    from lvlm_debias.benchmarks import metrics

    answers = _real_answers()
    answers.loc[answers["subset"] == "OCR", "subset"] = "ocr"  # a misspelt subtask: in no source's groups
    with pytest.raises(ValueError, match=r"MME subtasks \['ocr'\] are in no perception/cognition group.*lmms-lab/MME"):
        metrics("mme", answers)
    with pytest.raises(ValueError, match="`pair` column"):
        metrics("mme", _real_answers().drop(columns="pair"))


def test_sources_agree_on_the_subtask_names_they_share():
    """A run with only existence/count/position cannot tell the sources apart; both must group those alike."""
    from lvlm_debias.benchmarks import MME_SOURCES

    group_of = [{s: g for g, subs in groups.items() for s in subs} for groups in MME_SOURCES.values()]
    shared = set(group_of[0]).intersection(*group_of[1:])
    assert shared == {"existence", "count", "position"}
    assert all(len({table[s] for table in group_of}) == 1 for s in shared)


def test_acc_plus_pairs_by_image_id_not_by_image_bytes(tmp_path):
    """Two MME image ids whose files are byte-identical: the converter stores one file for both (content hash), but
    acc+ pairs each id's two questions. Pair 0001 both right, pair 0002 one right: acc 3/4, acc+ 1/2, score 125.
    Checked to fail without the feature: grouped by the image file, the four questions were one "image" with a wrong
    answer, acc+ 0 and score 75."""
    from hub_cache import image_cell, parquet

    from lvlm_debias.benchmarks import converter, metrics
    from lvlm_debias.data.convert import convert_split

    rows = [
        {"question_id": f"existence/{k:04d}.png", "image": image_cell(7), "question": f"Is there a cat? ({answer})",
         "answer": answer, "category": "existence"}
        for k in (1, 2) for answer in ("Yes", "No")
    ]  # fmt: skip
    (tmp_path / "data").mkdir()
    (tmp_path / "data/test-0.parquet").write_bytes(parquet(rows))
    records, _ = convert_split(converter("mme"), tmp_path, ["data/test-0.parquet"], "all", tmp_path / "out")
    assert len({r["image"] for r in records}) == 1  # one stored file for both image ids
    assert len({r["pair"] for r in records}) == 2
    answers = pd.DataFrame(records)[["subset", "pair", "image", "label"]]
    answers["prediction"] = ["yes", "no", "yes", "yes"]
    m = metrics("mme", answers)
    assert (m["accuracy"], m["acc_plus"], m["score"]) == pytest.approx((0.75, 0.5, 125.0))
