"""Tidy tables on disk: CSV with a header, written atomically."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from lvlm_debias.atomic import atomic_path

#: floats are written with a fixed precision so that reruns give byte-identical files.
FLOAT_FORMAT = "%.6g"


def write_csv(table: pd.DataFrame, path: str | Path) -> None:
    """Write ``table`` (no index) to ``path`` atomically (``atomic.atomic_path``): no partial file is ever seen."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as stream:
        table.to_csv(stream, index=False, float_format=FLOAT_FORMAT)


def write_json(data: object, path: str | Path, **dump: object) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically; ``dump`` goes to ``json.dump`` (e.g. ``sort_keys``)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as stream:
        json.dump(data, stream, indent=1, **dump)
