"""Free-text answer parsers: POPE's LLaVA and VCD rules, MME's own, and the multiple-choice letter parser."""

import pytest

from lvlm_debias.metrics import PARSERS, parse_choice, parse_yes_no_llava, parse_yes_no_mme, parse_yes_no_vcd

# answer, LLaVA's result, VCD's result when the label is "yes", VCD's result when the label is "no"
YES_NO = [
    ("Yes, there is a cat.", "yes", "yes", "yes"),
    ("No.", "no", "no", "no"),
    ("There is no dog in the image.", "no", "no", "no"),
    ("I don't know", "yes", "no", "no"),  # VCD: "know" holds "no"
    ("Not sure. Yes.", "yes", "yes", "no"),  # LLaVA: "Not" is capitalised, so not a negative word
    ("Yes. There is no cat.", "yes", "yes", "no"),  # LLaVA reads the first sentence only
    ("There is a dog, not a cat.", "no", "no", "no"),
    ("Nothing like that.", "yes", "no", "no"),
    ("yes", "yes", "yes", "yes"),
    ("no", "no", "no", "no"),
]


@pytest.mark.parametrize(("answer", "llava", "vcd_yes", "vcd_no"), YES_NO)
def test_yes_no_parsers(answer, llava, vcd_yes, vcd_no):
    assert parse_yes_no_llava(answer) == llava
    assert parse_yes_no_vcd(answer, "yes") == vcd_yes
    assert parse_yes_no_vcd(answer, "no") == vcd_no
    assert PARSERS["llava"](answer, "no") == llava
    assert PARSERS["vcd"](answer, "no") == vcd_no


@pytest.mark.parametrize("answer", ["yes", "no", "Yes", "No", "Yes.", "No."])
@pytest.mark.parametrize("label", ["yes", "no"])
def test_one_word_answers_agree(answer, label):
    assert PARSERS["llava"](answer, label) == PARSERS["vcd"](answer, label)


# MME's eval tool, by hand: the lower-cased answer's first 4 characters; "yes" in them -> yes, else "no" -> no, else
# other (wrong whatever the label).
MME = [
    ("Yes, there is", "yes"),  # "yes,"
    ("No.", "no"),  # "no."
    ("There is no", "other"),  # "ther": the "no" comes too late
    ("not sure", "no"),  # "not " holds "no"
    ("Not sure. Yes.", "no"),  # "not "
    ("I don't know", "other"),  # "i do"
    ("know", "no"),  # "know" holds "no"
    ("Nope", "no"),
    ("noyes", "no"),  # "noye": no "yes" in the first 4 characters, but "no"
    ("yes", "yes"),
    ("no", "no"),
    ("YES", "yes"),
    (" yes", "yes"),  # not stripped: " yes" still holds "yes"
    ("  yes", "other"),  # "  ye": two leading spaces push "yes" out of the first 4 characters
    ("a yes", "other"),  # "a ye"
    ("", "other"),
]


@pytest.mark.parametrize(("answer", "expected"), MME)
def test_mme_parser_reads_the_first_four_characters(answer, expected):
    assert parse_yes_no_mme(answer) == expected
    for label in ("yes", "no"):  # the label plays no part
        assert PARSERS["mme"](answer, label) == expected


def test_vcd_rejects_bad_label():
    with pytest.raises(ValueError, match="'maybe'"):
        parse_yes_no_vcd("yes", "maybe")


LETTERS = ["A", "B", "C", "D"]
CHOICES = [
    ("A", "A"),
    ("(B)", "B"),
    ("C.", "C"),
    ("D)", "D"),
    ("A:", "A"),
    ("  b  ", "B"),
    ("The answer is B", "B"),
    ("The answer is (C).", "C"),
    ("Answer: D", "D"),
    ("B. Because A is wrong.", "B"),  # an explicit form wins over a standalone letter
    ("I think the answer is C", "C"),
    ("Option C is correct", "C"),  # standalone token
    ("A or B", None),
    ("(A) and (B)", None),
    ("a cat on a mat", None),  # lower-case "a" is the article
    ("E", None),
    ("", None),
    ("none of these", None),
]


@pytest.mark.parametrize(("answer", "expected"), CHOICES)
def test_parse_choice(answer, expected):
    assert parse_choice(answer, LETTERS) == expected


#: what each yes/no parser may return: POPE's always a label, MME's "other" too
OUTCOMES = {"vcd": ("yes", "no"), "llava": ("yes", "no"), "mme": ("yes", "no", "other")}


@pytest.mark.parametrize("answer", ["(", ")", "[", "\\", "((A", "A)(", "?*+", "\n\t", "é ü 猫", "answer is", "(A"])
def test_parsers_never_raise(answer):
    parse_choice(answer, LETTERS)
    for name, parser in PARSERS.items():
        assert parser(answer, "yes") in OUTCOMES[name]


def test_parse_choice_rejects_bad_letters():
    with pytest.raises(ValueError, match="letters"):
        parse_choice("A", [])
    with pytest.raises(ValueError, match="letters"):
        parse_choice("A", ["A", ""])


def test_parsers_never_raise_property():
    hypothesis = pytest.importorskip("hypothesis")
    strategies = hypothesis.strategies

    @hypothesis.given(strategies.text(), strategies.sampled_from(["yes", "no"]))
    def check(answer, label):
        assert parse_choice(answer, LETTERS) in (*LETTERS, None)
        for name, parser in PARSERS.items():
            assert parser(answer, label) in OUTCOMES[name]

    check()
