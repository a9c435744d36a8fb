"""CHAIR by hand: captions with known hallucinations, synonyms and phrases, and the marked segments."""

import pytest

from lvlm_debias.metrics.chair import caption_segments, chair_metrics, find_mentions, synonym_table

VOCAB = {"circle": ["circles", "round thing"], "star": ["stars"], "fire hydrant": ["hydrant"], "square": []}


def test_caption_with_a_known_hallucination():
    """Two captions: the first names a star that is not in its image (1 of 3 mentions hallucinated), the second is
    right. Checked to fail with CHAIR_s taken over mentions instead of captions (1/4 instead of 1/2)."""
    captions = ["A red circle, a blue star and a green square.", "Two circles."]
    truths = [["circle", "square"], ["circle", "triangle"]]
    m = chair_metrics(captions, truths, VOCAB | {"triangle": []})
    assert m["chair_i"] == pytest.approx(1 / 4)  # mentions: circle, star, square | circle
    assert m["chair_s"] == pytest.approx(1 / 2)
    assert m["recall"] == pytest.approx(3 / 4)  # circle+square of 2, circle of 2
    assert m["length"] == pytest.approx((10 + 2) / 2)
    assert (m["mentions"], m["captions"]) == (4, 2)


def test_every_mention_counts_and_phrases_win():
    """The same absent object twice hallucinates twice; "fire hydrant" is one mention, not also "hydrant". Checked
    to fail with hallucinations counted once per caption."""
    table = synonym_table(VOCAB)
    mentions = find_mentions("A star, another STAR and a fire hydrant near a round thing.", table, ["fire hydrant"])
    assert [(m.object, m.hallucinated) for m in mentions] == [
        ("star", True), ("star", True), ("fire hydrant", False), ("circle", True)
    ]  # fmt: skip
    m = chair_metrics(["A star and a star."], [["circle"]], VOCAB)
    assert (m["chair_i"], m["chair_s"], m["recall"]) == (1.0, 1.0, 0.0)


def test_words_inside_other_words_are_not_mentions():
    assert find_mentions("Starry squares", synonym_table(VOCAB)) == []  # "squares" is no synonym of square here
    assert chair_metrics(["Nothing."], [["star"]], VOCAB)["chair_i"] == 0.0


def test_segments_mark_the_mentions_and_keep_the_text():
    caption = "A star & a circle <b>."
    segments = caption_segments(caption, find_mentions(caption, synonym_table(VOCAB), ["circle"]))
    assert "".join(text for text, _ in segments) == caption
    assert [(t, m) for t, m in segments if m] == [("star", "hallucinated"), ("circle", "correct")]


def test_bad_vocabulary_and_inputs_are_named():
    with pytest.raises(ValueError, match="'stars' is given for both 'star' and 'sky'"):
        synonym_table({"star": ["stars"], "sky": ["stars"]})
    with pytest.raises(ValueError, match=r"ground-truth objects \['moon'\] are not in the CHAIR vocabulary"):
        chair_metrics(["A star."], [["moon"]], VOCAB)
    with pytest.raises(ValueError, match="2 captions but 1"):
        chair_metrics(["a", "b"], [[]], VOCAB)
