"""HTML pieces of the report: embedded images, escaped tables, titled blocks."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import NamedTuple

import pandas as pd

#: tables with more rows than this are shown collapsed (``<details>``), a click away
COLLAPSE_ROWS = 12


class Table(NamedTuple):
    """One table of a block: its ``caption``, the ``html``, how many ``rows`` it has, and ``csv``: the link (relative
    to the report) to the CSV it shows or is made from, if any. Collapsed in the report when it has more than
    ``COLLAPSE_ROWS`` rows."""

    caption: str
    html: str
    rows: int = 0
    csv: str | None = None

    @property
    def collapsed(self) -> bool:
        return self.rows > COLLAPSE_ROWS


@dataclass
class Block:
    """One titled block of the report: a paragraph, computed findings, figures (data URIs) and tables."""

    title: str
    text: str
    findings: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    paper: list[dict] = field(default_factory=list)  # the paper's findings beside this run's (report.paper)


def data_uri(path: Path, mime: str = "image/png") -> str:
    """The file as a ``data:`` URI, so the report needs no other file."""
    return data_uri_bytes(Path(path).read_bytes(), mime)


def data_uri_bytes(data: bytes, mime: str = "image/png") -> str:
    """``data`` as a ``data:`` URI."""
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def table_html(table: pd.DataFrame, percent: Sequence[str] = ()) -> str:
    """An HTML table (cells escaped), the ``percent`` columns shown ×100 with one decimal, other floats to 3 digits."""
    shown = table.copy()
    for column in shown.columns:
        if column in percent:
            shown[column] = (100 * shown[column]).map("{:.1f}".format)
        elif pd.api.types.is_float_dtype(shown[column]):
            shown[column] = shown[column].map(_number)
    return shown.to_html(index=False, escape=True, classes="data", border=0)


def _number(value: float) -> str:
    """Three significant digits, never in exponent form for numbers of 100 and more (times, memory, MME scores)."""
    if pd.isna(value):
        return ""
    return f"{value:.1f}" if abs(value) >= 100 else f"{value:.3g}"


def _thumbnail_cell(sample: dict) -> str:
    return f'<td><img class="thumb" src="{escape(sample["thumbnail"])}" alt="{escape(sample["image"])}"></td>'


def _side_by_side(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table of samples side by side: escaped ``head`` names, rows of ready ``<td>`` cells."""
    header = "".join(f"<th>{escape(name)}</th>" for name in head)
    body = "".join(f"<tr>{''.join(cells)}</tr>" for cells in rows)
    return f'<table class="data captions"><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>'


def captions_html(samples: Sequence[dict]) -> str:
    """Captions side by side: one row per image (thumbnail, ground-truth objects), one column per decoding method;
    object mentions marked ``<mark class="hallucinated">`` (not in the image) or ``<mark class="correct">``. Every
    piece of text is escaped."""
    if not samples:
        return ""
    methods = list(samples[0]["captions"])
    rows = []
    for sample in samples:
        cells = [_thumbnail_cell(sample), f"<td>{escape(', '.join(sample['objects']))}</td>"]
        for method in methods:
            pieces = [
                f'<mark class="{escape(mark)}">{escape(text)}</mark>' if mark else escape(text)
                for text, mark in sample["captions"].get(method, [])
            ]
            cells.append(f"<td>{''.join(pieces)}</td>")
        rows.append(cells)
    return _side_by_side(["image", "objects", *methods], rows)


def answers_html(samples: Sequence[dict]) -> str:
    """Open-ended answers side by side: one row per question (thumbnail, question, reference answer), one column per
    decoding method. Every piece of text is escaped."""
    if not samples:
        return ""
    methods = list(samples[0]["answers"])
    rows = [
        [
            _thumbnail_cell(sample),
            f"<td>{escape(sample['question'])}</td>",
            f"<td>{escape(sample['reference'])}</td>",
            *(f"<td>{escape(sample['answers'].get(method, ''))}</td>" for method in methods),
        ]
        for sample in samples
    ]
    return _side_by_side(["image", "question", "reference", *methods], rows)
