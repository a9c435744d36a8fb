"""Benchmarks fetched from plain URLs (``datasets`` entries with ``source: url``): question files and an image zip.

Two steps, as for the hub datasets:

1. :func:`download_url_dataset` fetches one question file per split (the entry's ``questions.url`` with ``{split}``
   filled in) and the image zip (``images.url``) under ``<root>/downloads/<host>/<path>``
   (:mod:`lvlm_debias.data.fetch`: resumable, atomic, sha256-checked where pinned). It then writes, last, a manifest
   of every file (URL, path, size, sha256). With that manifest in place and its files intact, a rerun makes no
   request.
2. :func:`write_url_questions` turns one split's question file into the project's question file
   (:mod:`lvlm_debias.data.vcd_pope`). It takes only the images the split names out of the zip
   (:mod:`lvlm_debias.data.archive`) into ``<root>/images/``, checks that each opens, and writes a manifest of the
   files written last.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

from PIL import Image

from lvlm_debias.data.archive import extract_named
from lvlm_debias.data.convert import IMAGES
from lvlm_debias.data.fetch import TIMEOUT, fetch_url, local_path
from lvlm_debias.data.jsonl import write_jsonl
from lvlm_debias.data.manifest import file_entries, files_intact, read_manifest, write_manifest
from lvlm_debias.data.vcd_pope import image_names, parse_vcd_questions, vcd_pope_records

DOWNLOADS = "downloads"
QUESTIONS, ARCHIVE = "questions", "images"


def url_files(entry: Mapping, splits: Sequence[str]) -> list[dict]:
    """The files of a ``source: url`` entry: per split its question file, then the image zip; each as ``role``
    (questions/images), ``split`` (None for the zip), ``url`` and the pinned ``sha256`` (or None)."""
    pins = entry["questions"].get("sha256") or {}
    files = [
        {"role": QUESTIONS, "split": split, "url": entry["questions"]["url"].format(split=split),
         "sha256": pins.get(split)}
        for split in splits
    ]  # fmt: skip
    images = entry["images"]
    return [*files, {"role": ARCHIVE, "split": None, "url": images["url"], "sha256": images.get("sha256")}]


def download_url_dataset(
    entry: Mapping,
    splits: Sequence[str],
    root: str | Path,
    manifest_path: str | Path,
    *,
    allow_fetch: bool = True,
    timeout: float = TIMEOUT,
) -> dict:
    """Fetch the files of ``entry`` for ``splits`` under ``root/downloads/`` and write their manifest at
    ``manifest_path`` (last). Returns the manifest: ``source`` ("url"), ``format``, ``splits`` and ``files``
    (``role``, ``split``, ``url``, ``path`` relative to ``root``, ``size``, ``sha256``).

    A previous manifest for the same URLs whose files are all still there with their sizes is returned as it is,
    with no request. ``allow_fetch=False`` turns a missing file into :class:`~lvlm_debias.data.fetch.FetchForbidden`.
    """
    root = Path(root)
    wanted = url_files(entry, splits)
    previous = read_manifest(manifest_path)
    if (
        previous
        and [(f["role"], f["split"], f["url"]) for f in previous.get("files", [])]
        == [(f["role"], f["split"], f["url"]) for f in wanted]
        and files_intact(root, previous["files"])
    ):
        return previous
    files = []
    for item in wanted:
        path = fetch_url(
            item["url"], local_path(item["url"], root / DOWNLOADS), sha256=item["sha256"], allow_fetch=allow_fetch,
            timeout=timeout,
        )  # fmt: skip
        (stats,) = file_entries(root, [path.relative_to(root)])
        files.append({"role": item["role"], "split": item["split"], "url": item["url"], **stats})
    manifest = {"source": "url", "format": entry["format"], "splits": list(splits), "files": files}
    write_manifest(manifest_path, manifest)
    return manifest


def _file(manifest: Mapping, role: str, split: str | None = None) -> dict:
    for item in manifest["files"]:
        if item["role"] == role and (role == ARCHIVE or item["split"] == split):
            return item
    raise ValueError(f"the download manifest has no {role} file for split {split!r} (its splits: {manifest['splits']})")


def check_images(paths: Mapping[str, Path]) -> None:
    """Raise ``ValueError`` naming the first file of ``paths`` (name -> path) that is not a readable image."""
    for name, path in paths.items():
        try:
            with Image.open(io.BytesIO(path.read_bytes())) as image:
                image.verify()
        except Exception as err:  # PIL raises many types for a broken file
            raise ValueError(f"{path} (member {name!r} of the image zip) is not a readable image: {err}") from err


def write_url_questions(
    download_manifest: Mapping,
    split: str,
    questions_path: str | Path,
    manifest_path: str | Path,
    root: str | Path,
) -> dict:
    """Convert ``split`` of a downloaded url dataset (its :func:`download_url_dataset` manifest) into the question
    file at ``questions_path``, its images taken from the zip into ``root/images/``; then write, last, a manifest of
    the sources (URL, sha256) and of every file written (size, sha256). Returns that manifest.

    Raises :class:`~lvlm_debias.data.archive.MissingMembers` naming the zip and the images it lacks, before any file
    is written; ``ValueError`` for a malformed question file or an image that does not open.
    """
    root = Path(root)
    source, archive = _file(download_manifest, QUESTIONS, split), _file(download_manifest, ARCHIVE)
    questions = parse_vcd_questions((root / source["path"]).read_text(encoding="utf-8"), str(root / source["path"]))
    images = extract_named(root / archive["path"], image_names(questions), root / IMAGES)
    check_images(images)
    records = vcd_pope_records(questions, split)
    write_jsonl(questions_path, records)
    written = [Path(questions_path).resolve().relative_to(root.resolve()), *sorted({r["image"] for r in records})]
    manifest = {
        "source": {"files": [{key: item[key] for key in ("url", "path", "sha256")} for item in (source, archive)]},
        "format": download_manifest["format"],
        "split": split,
        "questions": len(records),
        "skipped": {},
        "files": file_entries(root, written),
    }
    write_manifest(manifest_path, manifest)
    return manifest
