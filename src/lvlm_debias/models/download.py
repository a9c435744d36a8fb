"""Fetch a hub repository (a model or a dataset) into the Hugging Face cache once, and record it complete.

Why no half-written model is ever loaded -- we rely on the hub cache's own atomicity and add a completion manifest:

- ``snapshot_download`` writes each file to ``blobs/<hash>.incomplete``, renames it to ``blobs/<hash>`` once whole,
  and only then links ``snapshots/<commit>/<name>`` to it. An interrupted download leaves names *missing* from the
  snapshot folder, never a truncated file under its final name, and the next call resumes the ``.incomplete`` blob.
- A snapshot folder alone cannot say whether every file arrived. So :func:`download` checks the snapshot (for a
  model: ``config.json`` and every safetensors shard its index names) and only then writes the manifest (each file's
  size and sha256) through a temporary file and ``os.replace``. The manifest is the download rule's output and the
  scoring rules' input: an exception or a kill before that point leaves no manifest, so no job loads the model.
- Idempotent and offline on a rerun: when the manifest exists and every file it lists is still in the cache with its
  size, nothing is fetched and no network call is made. Loading goes through the same cache (repo id + revision).

``HF_HOME`` / ``HF_HUB_CACHE`` choose the cache, as everywhere in huggingface_hub.

A dataset may have moved to another name (lmms-eval's image datasets went from ``lmms-lab/*`` to
``lmms-lab-encoder/*`` with their history, the same commits): :func:`download_first` tries the configured repo, then
each mirror in turn while the one before is *not found* (a 404, or offline: not in the cache), logs which one served,
and the manifest's ``repo`` records it; every later step reads the snapshot the manifest names.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from huggingface_hub import constants, snapshot_download
from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

from lvlm_debias.data.manifest import file_entries, files_intact, read_manifest, write_manifest
from lvlm_debias.models.hub import HubAccessError, check_hub_access, offline
from lvlm_debias.settings import schema_default

#: what a checkpoint needs: configs, safetensors weights (with their index), tokenizer and processor files
MODEL_PATTERNS = ("*.json", "*.safetensors", "tokenizer.model", "*.tiktoken", "*.txt")
#: the repo's own Python code, fetched only for an entry with trust_remote_code
REMOTE_CODE_PATTERNS = ("*.py",)
#: a file every dataset repo we use holds; its metadata request tells the hub faults apart
DATASET_PROBE_FILE = "README.md"

log = logging.getLogger(__name__)


class IncompleteSnapshot(RuntimeError):
    """A snapshot folder that lacks files a complete download has; the message names them."""


#: what :func:`missing_checkpoint_files` lists for a checkpoint with no safetensors weights at all
NO_SAFETENSORS = "*.safetensors"


def model_patterns(trust_remote_code: bool = schema_default("models.*.trust_remote_code")) -> list[str]:
    """``allow_patterns`` for a checkpoint: no pickled weights ever, the repo's code only with remote code."""
    return [*MODEL_PATTERNS, *(REMOTE_CODE_PATTERNS if trust_remote_code else ())]


def missing_checkpoint_files(folder: str | Path) -> list[str]:
    """Files a safetensors checkpoint in ``folder`` lacks: ``config.json``; the shards its
    ``model.safetensors.index.json`` names; or, without an index, any ``*.safetensors`` file."""
    folder = Path(folder)
    missing = [] if (folder / "config.json").is_file() else ["config.json"]
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        missing += [shard for shard in shards if not (folder / shard).is_file()]
    elif not any(folder.glob("*.safetensors")):
        missing.append(NO_SAFETENSORS)
    return missing


def _snapshot(repo_id: str, revision: str | None, repo_type: str, patterns: Sequence[str], fetch: bool) -> Path:
    """The snapshot folder of ``repo_id`` at ``revision``: from the cache only unless ``fetch`` (and not offline)."""
    what = f"{repo_type} {repo_id!r} at revision {revision or 'main'!r}"
    if not fetch or offline():
        try:
            return Path(
                snapshot_download(
                    repo_id, repo_type=repo_type, revision=revision, allow_patterns=list(patterns),
                    local_files_only=True,
                )
            )  # fmt: skip
        except (LocalEntryNotFoundError, OfflineModeIsEnabled, FileNotFoundError) as err:
            why = "HF_HUB_OFFLINE=1" if offline() else "downloads.fetch is false"
            raise HubAccessError(
                f"{what} is not in the local Hugging Face cache ({constants.HF_HUB_CACHE}) and {why} forbids "
                "downloading it: run the download rules on a machine with hub access into the same HF_HOME "
                "(with downloads.fetch: true), or fill the cache there with "
                f"`hf download {repo_id}{'' if repo_type == 'model' else ' --repo-type ' + repo_type}"
                f"{' --revision ' + revision if revision else ''}`",
                missing=True,
            ) from err
    check_hub_access(
        repo_id, revision, repo_type=repo_type, filename="config.json" if repo_type == "model" else DATASET_PROBE_FILE
    )
    return Path(snapshot_download(repo_id, repo_type=repo_type, revision=revision, allow_patterns=list(patterns)))


def download(
    repo_id: str,
    manifest_path: str | Path,
    *,
    revision: str | None = None,
    repo_type: str = "model",
    allow_patterns: Sequence[str] = MODEL_PATTERNS,
    fetch: bool = schema_default("downloads.fetch"),
    check: Callable[[Path], list[str]] | None = None,
) -> dict:
    """Make ``repo_id`` at ``revision`` complete in the HF cache and write its manifest at ``manifest_path``.

    Returns the manifest: ``repo``, ``repo_type``, ``revision`` (as asked), ``commit`` (resolved), ``snapshot`` (the
    cache folder) and ``files`` (``path``, ``size``, ``sha256`` of every file of the snapshot). ``check(folder)``
    lists missing files; any makes it raise :class:`IncompleteSnapshot` and leaves no manifest. With a manifest
    already there for the same repo and revision, and its files intact, it returns that manifest without any
    network call.
    """
    previous = _reusable(read_manifest(manifest_path), [repo_id], repo_type, revision)
    if previous:
        return previous
    folder = _snapshot(repo_id, revision, repo_type, allow_patterns, fetch)
    missing = check(folder) if check else []
    if missing:
        hint = "an interrupted download? rerun the download with hub access to complete it"
        if NO_SAFETENSORS in missing:
            hint = (
                "weights are loaded from safetensors files only, never from pickled *.bin files: if the repo has "
                "no safetensors at this revision, pin the revision of a branch that has them (often the hub bot's "
                "'Adding `safetensors` variant' pull request, refs/pr/<n>), or an interrupted download: rerun it"
            )
        raise IncompleteSnapshot(
            f"{repo_type} {repo_id!r} at revision {revision or 'main'!r}: the cached snapshot {folder} lacks "
            f"{missing} ({hint})"
        )
    files = [p.relative_to(folder) for p in sorted(folder.rglob("*")) if p.is_file()]
    if not files:
        raise IncompleteSnapshot(f"{repo_type} {repo_id!r}: no file matching {list(allow_patterns)} in {folder}")
    manifest = {
        "repo": repo_id,
        "repo_type": repo_type,
        "revision": revision,
        "commit": folder.name,
        "snapshot": str(folder),
        "allow_patterns": list(allow_patterns),
        "files": file_entries(folder, files),
    }
    write_manifest(manifest_path, manifest)
    return manifest


def _reusable(previous: dict | None, repos: Sequence[str], repo_type: str, revision: str | None) -> dict | None:
    """``previous`` when it is a manifest of one of ``repos`` at ``revision`` whose files are all still there."""
    if (
        previous
        and previous.get("repo") in repos
        and (previous.get("repo_type"), previous.get("revision")) == (repo_type, revision)
        and files_intact(previous["snapshot"], previous["files"])
    ):
        return previous
    return None


def download_first(
    repos: Sequence[str],
    manifest_path: str | Path,
    *,
    revision: str | None = None,
    repo_type: str = "model",
    **options,
) -> dict:
    """:func:`download` (``options``: its other keywords) from the first of ``repos`` (the configured repo, then its
    mirrors) that is found; the manifest's ``repo`` is the one that served. A repo that is not found
    (:class:`HubAccessError` with ``missing``: a 404, or offline a cache without it) passes to the next, with a
    warning; any other fault stops at once.

    A manifest already there for one of ``repos`` at the same revision, its files intact, is returned without any
    network call. Raises :class:`HubAccessError` naming every repo tried and why when none is found.
    """
    repos = list(dict.fromkeys(repos))
    if not repos:
        raise ValueError("download_first needs at least one repo")
    previous = _reusable(read_manifest(manifest_path), repos, repo_type, revision)
    if previous:
        return previous
    faults = []
    for repo in repos:
        try:
            manifest = download(repo, manifest_path, revision=revision, repo_type=repo_type, **options)
        except HubAccessError as err:
            if not err.missing:
                raise
            faults.append(f"{repo}: {err}")
            log.warning("%s not found%s", repo, f"; trying {repos[len(faults)]}" if len(faults) < len(repos) else "")
            continue
        log.info("%s served by %s at %s", repos[0], repo, manifest["commit"])
        return manifest
    raise HubAccessError(
        f"none of {repos} is found (the repo, then its `mirrors`):\n" + "\n".join(f"  - {f}" for f in faults),
        missing=True,
    )


def download_model(
    repo_id: str,
    manifest_path: str | Path,
    *,
    revision: str | None = None,
    trust_remote_code: bool = schema_default("models.*.trust_remote_code"),
    fetch: bool = schema_default("downloads.fetch"),
) -> dict:
    """:func:`download` of a checkpoint: safetensors weights, configs, tokenizer and processor files only, checked
    complete (config and every shard) before the manifest is written."""
    return download(
        repo_id,
        manifest_path,
        revision=revision,
        repo_type="model",
        allow_patterns=model_patterns(trust_remote_code),
        fetch=fetch,
        check=missing_checkpoint_files,
    )
