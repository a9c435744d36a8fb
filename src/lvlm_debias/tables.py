"""Tidy tables on disk: CSV with a header, written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd

#: floats are written with a fixed precision so that reruns give byte-identical files.
FLOAT_FORMAT = "%.6g"


def write_csv(table: pd.DataFrame, path: str | Path) -> None:
    """Write ``table`` (no index) to ``path`` via a temporary file and a rename, so no partial file is ever seen."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as stream:
            table.to_csv(stream, index=False, float_format=FLOAT_FORMAT)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(data: object, path: str | Path) -> None:
    """Write ``data`` as indented JSON to ``path`` via a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            json.dump(data, stream, indent=1)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
