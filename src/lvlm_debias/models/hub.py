"""Failing fast, with a message that names the repo and what to do, when a checkpoint cannot be fetched.

transformers, left alone, tries several files in turn, each with retries: an unreachable hub took 142 s to fail here,
with a message that names no repo. One metadata request first (``config.json`` at the wanted revision) tells the
cases apart in well under a second: gated repo without access, missing repo, missing revision, hub unreachable, or
offline mode with nothing in the cache. The token itself never appears in a message; only whether one is set.
"""

from __future__ import annotations

import os
from pathlib import Path

from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url, try_to_load_from_cache
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

#: seconds the metadata request may take
TIMEOUT_S = 10.0
TOKEN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


class HubAccessError(RuntimeError):
    """A checkpoint that cannot be fetched; the message names the repo, the revision and what to do. ``missing`` is
    true when the repo itself is not there: the hub does not know it (404), or, offline, the local cache does not hold
    it; another name of the same data (a mirror) may then serve it."""

    def __init__(self, message: str, *, missing: bool = False):
        super().__init__(message)
        self.missing = missing


def offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` is on (read now, not at import)."""
    value = os.environ.get("HF_HUB_OFFLINE")
    if value is None:
        return bool(constants.HF_HUB_OFFLINE)
    return value.strip().lower() in ("1", "true", "yes", "on")


def _token_state() -> str:
    names = [name for name in TOKEN_VARIABLES if os.environ.get(name)]
    return f"a token is set ({', '.join(names)})" if names else "no token is set (HF_TOKEN)"


def check_hub_access(
    repo_id: str,
    revision: str | None = None,
    timeout: float = TIMEOUT_S,
    *,
    repo_type: str = "model",
    filename: str = "config.json",
) -> None:
    """Raise :class:`HubAccessError` when ``repo_id`` at ``revision`` cannot be fetched now; return otherwise.

    Offline (``HF_HUB_OFFLINE=1``) it looks in the local cache only; online it makes one metadata request (for
    ``filename``, a file every repo of ``repo_type`` we use holds: a model's ``config.json``, a dataset's README).
    """
    kind = "model" if repo_type == "model" else repo_type
    at = f"{repo_id!r} at revision {revision or 'main'!r}"
    if offline():
        cached = try_to_load_from_cache(repo_id, filename, revision=revision, repo_type=repo_type)
        if not isinstance(cached, str):
            command = f"hf download {repo_id}{'' if repo_type == 'model' else ' --repo-type ' + repo_type}"
            raise HubAccessError(
                f"{kind} {at} is not in the local Hugging Face cache ({constants.HF_HUB_CACHE}) and HF_HUB_OFFLINE=1 "
                "forbids downloading it: download it first on a machine with hub access into the same HF_HOME "
                f"(`{command}{' --revision ' + revision if revision else ''}`), or unset HF_HUB_OFFLINE",
                missing=True,
            )
        return
    try:
        get_hf_file_metadata(hf_hub_url(repo_id, filename, revision=revision, repo_type=repo_type), timeout=timeout)
    except GatedRepoError as err:
        raise HubAccessError(
            f"{kind} {at} is gated and {_token_state()}: accept its licence at https://huggingface.co/{repo_id} "
            "with your account, then put an access token in the HF_TOKEN environment variable (never in the config)"
        ) from err
    except RevisionNotFoundError as err:
        raise HubAccessError(
            f"{kind} {repo_id!r} has no revision {revision!r}: check the entry's `revision` (a commit hash, branch or "
            "tag of that repo)"
        ) from err
    except RepositoryNotFoundError as err:
        raise HubAccessError(
            f"{kind} {at} does not exist, or is private and {_token_state()}: check the entry's `source`", missing=True
        ) from err
    except HfHubHTTPError as err:
        raise HubAccessError(f"{kind} {at}: the hub answered with an error ({err})") from err
    except Exception as err:  # connection refused, DNS, TLS, timeout: the HTTP client's own error classes
        raise HubAccessError(
            f"{kind} {at}: the hub at {constants.ENDPOINT} cannot be reached ({type(err).__name__}: {err}); check "
            "the network or proxy, or fill the cache on a machine with access and run with HF_HUB_OFFLINE=1"
        ) from err


def is_local(source: str | Path) -> bool:
    """Whether ``source`` is a local checkpoint folder rather than a hub repo id."""
    return Path(source).is_dir()
