"""Parsers that turn free-text answers into labels: POPE's two yes/no rules, MME's own, and a multiple-choice letter
parser."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

YES, NO, OTHER = "yes", "no", "other"
#: punctuation stripped from the ends of a token when looking for a standalone option letter.
_TOKEN_PUNCT = "()[]{}.,:;!?'\"*"


def parse_yes_no_llava(answer: str) -> str:
    """LLaVA's ``eval_pope`` rule: keep the text before the first '.', remove commas, split on spaces; the answer is
    "no" when one of the words is exactly ``No``, ``not`` or ``no`` (case-sensitive, as in LLaVA), else "yes".
    """
    text = answer.split(".")[0].replace(",", "")
    words = text.split(" ")
    return NO if any(w in ("No", "not", "no") for w in words) else YES


def parse_yes_no_vcd(answer: str, label: str) -> str:
    """VCD's ``eval_pope.py`` rule, which depends on the gold label (both lower-cased and stripped):
    label "yes" → "yes" if the substring "yes" occurs in the answer, else "no";
    label "no" → "no" if the substring "no" occurs (so "I don't know" counts as a correct "no"), else "yes".
    """
    gold = label.lower().strip()
    text = answer.lower().strip()
    if gold == YES:
        return YES if YES in text else NO
    if gold == NO:
        return NO if NO in text else YES
    raise ValueError(f"label must be 'yes' or 'no'; got {label!r}")


def parse_yes_no_mme(answer: str) -> str:
    """MME's own rule (``parse_pred_ans`` of its eval_tool/calculation.py, applied to ``answer.lower()``): with
    ``head = answer.lower()[:4]`` (the first four characters, nothing stripped), "yes" when "yes" occurs in ``head``,
    else "no" when "no" occurs in ``head``, else "other", which is wrong whatever the gold label. (The tool first
    keeps an answer that is exactly "yes" or "no", which this rule gives anyway.)

    "Yes, there is" → yes ("yes,"); "No." → no; "not sure" → no ("not " holds "no"); "There is no" → other
    ("ther"); "I don't know" → other. lmms-eval's copy differs: it strips the answer and removes every "." first,
    and reads a lone "y" / "n" as yes / no.
    """
    head = answer.lower()[:4]
    if YES in head:
        return YES
    return NO if NO in head else OTHER


def _llava(answer: str, label: str) -> str:
    """:func:`parse_yes_no_llava` with the (ignored) label argument, to share the ``(answer, label)`` signature."""
    return parse_yes_no_llava(answer)


def _mme(answer: str, label: str) -> str:
    """:func:`parse_yes_no_mme` with the (ignored) label argument, to share the ``(answer, label)`` signature."""
    return parse_yes_no_mme(answer)


#: the yes/no parsers, each called as ``parser(answer, label)``: POPE's two (vcd, llava) always give yes or no; MME's
#: (mme) gives "other" for an answer that starts with neither. A table names the one it used (its ``parser`` column).
PARSERS: dict[str, Callable[[str, str], str]] = {"llava": _llava, "vcd": parse_yes_no_vcd, "mme": _mme}


def _explicit(text: str, letter: str) -> bool:
    """Whether ``letter`` is given in an explicit form: "(X)" anywhere, "X." / "X)" / "X:" at the start,
    or "answer is X" / "answer: X"."""
    x = re.escape(letter)
    patterns = (rf"\({x}\)", rf"^{x}[.):](?:\s|$)", rf"(?i:answer)\s*(?:(?i:is)|:)\s*\(?{x}(?![^\W_])")
    return any(re.search(p, text) for p in patterns)


def parse_choice(answer: str, letters: Sequence[str]) -> str | None:
    """The option letter an answer picks, or None when it names none or several.

    After stripping, an answer that is just a letter (any case, surrounding punctuation ignored) is that letter.
    Otherwise the candidates are the letters in an explicit form ("(A)", "A." / "A)" / "A:" at the start,
    "The answer is A"); if there are none, the letters that stand alone as a token ("A", "A,", ...). Exactly one
    distinct candidate is returned; none or several give None. Matching is case-sensitive beyond the bare answer, so
    the article "a" is not read as option "A" (the article "A" at the start of a sentence can be, as in MMMU's own
    parser). Never raises on the answer.
    """
    options = list(letters)
    bad = [v for v in options if not isinstance(v, str) or not v or any(c.isspace() for c in v)]
    if bad or not options:
        raise ValueError(f"letters must be non-empty strings without spaces; got {options!r}")
    text = answer.strip()
    bare = text.strip(_TOKEN_PUNCT + " ").upper()
    exact = [v for v in options if v.upper() == bare]
    if len(exact) == 1:
        return exact[0]
    candidates = {v for v in options if _explicit(text, v)}
    if not candidates:
        tokens = {t.strip(_TOKEN_PUNCT) for t in text.split()}
        candidates = {v for v in options if v in tokens}
    return candidates.pop() if len(candidates) == 1 else None
