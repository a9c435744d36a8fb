"""The performance targets the benchmark prints as met or not, and comparisons of two runs' outputs."""

from __future__ import annotations

import filecmp
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

OPERATORS = {">=": operator.ge, "<=": operator.le, "==": operator.eq}


@dataclass(frozen=True)
class Target:
    """``value op threshold``, e.g. speed-up ``>=`` 10."""

    name: str
    value: float
    op: str
    threshold: float
    unit: str = ""

    def __post_init__(self) -> None:
        if self.op not in OPERATORS:
            raise ValueError(f"target {self.name!r}: operator {self.op!r} is not one of {list(OPERATORS)}")

    @property
    def met(self) -> bool:
        return bool(np.isfinite(self.value)) and bool(OPERATORS[self.op](self.value, self.threshold))


def targets_frame(targets: Sequence[Target]) -> pd.DataFrame:
    """One row per target: its name, measured value, the requirement and "met" / "NOT met"."""
    return pd.DataFrame(
        [
            {
                "target": t.name,
                "value": t.value,
                "requirement": f"{t.op} {t.threshold:g}{(' ' + t.unit) if t.unit else ''}",
                "status": "met" if t.met else "NOT met",
            }
            for t in targets
        ],
        columns=["target", "value", "requirement", "status"],
    )


def agreement(ours: pd.DataFrame, theirs: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """Per probe: questions compared, how many share the argmax label, and the largest absolute difference of a
    raw label probability. Both tables have ``question_id``, ``probe`` and ``p_<label>`` columns; a question or
    probe present in one table only fails, naming it."""
    columns = [f"p_{name}" for name in labels]
    merged = ours.merge(theirs, on=["question_id", "probe"], how="outer", suffixes=("_ours", "_theirs"), indicator=True)
    lonely = merged[merged["_merge"] != "both"]
    if len(lonely):
        first = lonely.iloc[0]
        raise ValueError(
            f"{len(lonely)} (question, probe) rows are in one table only, e.g. question {first['question_id']} "
            f"probe {first['probe']!r} ({first['_merge']})"
        )
    rows = []
    for probe, group in merged.groupby("probe", sort=False):
        a = group[[f"{c}_ours" for c in columns]].to_numpy()
        b = group[[f"{c}_theirs" for c in columns]].to_numpy()
        rows.append(
            {
                "probe": probe,
                "questions": len(group),
                "same_argmax": int((a.argmax(1) == b.argmax(1)).sum()),
                "max_abs_diff": float(np.abs(a - b).max()) if len(group) else 0.0,
            }
        )
    return pd.DataFrame(rows, columns=["probe", "questions", "same_argmax", "max_abs_diff"])


def differing_files(a: str | Path, b: str | Path, patterns: Sequence[str] = ("*.csv",)) -> list[str]:
    """Relative paths matching ``patterns`` under folder ``a`` or ``b`` that are missing from one of them or differ
    byte for byte; empty when the two runs' tables are identical."""
    a, b = Path(a), Path(b)

    def files(root: Path) -> set[str]:
        return {str(p.relative_to(root)) for pattern in patterns for p in root.rglob(pattern)}

    found_a, found_b = files(a), files(b)
    out = sorted(found_a ^ found_b)
    out += sorted(rel for rel in found_a & found_b if not filecmp.cmp(a / rel, b / rel, shallow=False))
    return out
