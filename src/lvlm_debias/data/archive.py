"""Single files taken out of a large zip archive, found by their base name, without unpacking the rest.

A zip's central directory (at its end) lists every member with its offset, so :func:`extract_named` reads that list
once and then only the bytes of the members asked for: a few hundred images out of a 20 GB archive cost seconds.
Members are found by base name whatever their folder (``val2014/COCO_val2014_000000461751.jpg`` answers
``COCO_val2014_000000461751.jpg``; GQA's ``images/2405722.jpg`` answers ``2405722.jpg``).

Archives past 4 GiB or 65535 entries (GQA's images.zip is about 20 GB) are zip64: Python's :mod:`zipfile` reads the
zip64 end-of-central-directory record and the zip64 extra fields (sizes, offsets) itself, and nothing here parses a
header or assumes a 32-bit size; members are copied in 1 MiB chunks, never read whole.
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from lvlm_debias.atomic import atomic_path

#: missing names listed in full in an error message (the rest are counted)
SHOWN = 10


class MissingMembers(ValueError):
    """Names asked for that the archive lacks; the message names the archive and the missing names."""


def members_by_name(archive: zipfile.ZipFile, names: Iterable[str]) -> dict[str, zipfile.ZipInfo]:
    """The member of ``archive`` for each of ``names`` (a base name). Folders and macOS ``__MACOSX/`` copies are
    ignored. Raises :class:`MissingMembers` listing the names with no member, and ``ValueError`` for a name two
    members share."""
    wanted = set(names)
    found: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        path = PurePosixPath(info.filename)
        if info.is_dir() or path.name not in wanted or "__MACOSX" in path.parts:
            continue
        if path.name in found:
            raise ValueError(
                f"{archive.filename}: {path.name!r} is both {found[path.name].filename!r} and {info.filename!r}"
            )
        found[path.name] = info
    missing = sorted(wanted - set(found))
    if missing:
        shown = ", ".join(missing[:SHOWN]) + (f" and {len(missing) - SHOWN} more" if len(missing) > SHOWN else "")
        raise MissingMembers(f"{archive.filename} lacks {len(missing)} of the {len(wanted)} files asked for: {shown}")
    return found


def extract_named(zip_path: str | Path, names: Iterable[str], dest: str | Path) -> dict[str, Path]:
    """Copy the members of the zip at ``zip_path`` whose base names are ``names`` to ``dest/<name>`` (atomically;
    a file already there with the member's size is kept). Returns name -> path. Raises :class:`MissingMembers`
    before writing anything when a name has no member."""
    dest, names = Path(dest), list(names)
    bad = [n for n in names if n in ("", ".", "..") or "/" in n or "\\" in n]
    if bad:
        raise ValueError(f"not plain file names: {bad[:SHOWN]}")
    out = {}
    with zipfile.ZipFile(zip_path) as archive:
        for name, info in sorted(members_by_name(archive, names).items()):
            path = dest / name
            if not (path.is_file() and path.stat().st_size == info.file_size):
                with atomic_path(path) as tmp, archive.open(info) as source, open(tmp, "wb") as target:
                    shutil.copyfileobj(source, target, 1 << 20)
            out[name] = path
    return out
