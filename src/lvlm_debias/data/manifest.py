"""Manifests: what a download or conversion wrote, as JSON (every file's size and sha256), written atomically.

A manifest is written last, after every file it lists is in place, so its presence means the step completed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from lvlm_debias.tables import write_json

CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """The sha256 hex digest of the file at ``path`` (read in 1 MiB chunks; links are followed)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_entries(root: str | Path, paths: Iterable[str | Path]) -> list[dict]:
    """``{path, size, sha256}`` of each file, ``path`` relative to ``root`` with forward slashes, sorted by path."""
    root = Path(root)
    out = []
    for path in paths:
        full = root / path
        out.append({"path": Path(path).as_posix(), "size": full.stat().st_size, "sha256": sha256_file(full)})
    return sorted(out, key=lambda entry: entry["path"])


def write_manifest(path: str | Path, data: Mapping) -> None:
    """Write ``data`` as indented JSON (keys sorted) at ``path`` atomically (never half-written)."""
    write_json(data, path, sort_keys=True)


def read_manifest(path: str | Path) -> dict | None:
    """The manifest at ``path``, or None when there is none or it does not parse."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def files_intact(root: str | Path, files: Iterable[Mapping]) -> bool:
    """Whether every listed file exists under ``root`` with its recorded size (a cheap check: no hashing)."""
    root = Path(root)
    for entry in files:
        full = root / entry["path"]
        if not full.is_file() or full.stat().st_size != entry["size"]:
            return False
    return True
