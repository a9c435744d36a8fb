"""Files fetched from an HTTP(S) URL into a local folder: resumable, idempotent, atomic and checked.

- **Where.** :func:`local_path` puts a URL's file at ``<root>/<host>/<path>`` (the layout ``wget -x`` makes), so one
  URL names one file, and a changed URL (another commit in a raw.githubusercontent.com address) never reuses a
  stale file of the same name.
- **Idempotent.** A file at its final name is complete (final names appear only complete): :func:`fetch_url` returns
  it without any request (after a sha256 check when one is pinned).
- **Resumable.** Bytes arrive in ``<name>.part``. A later call asks for the rest (``Range: bytes=<size>-``) and
  appends the ``206 Partial Content`` answer. A server that ignores the range (``200 OK``, the whole file) restarts
  the ``.part`` from byte 0; ``416`` with the file's length equal to the ``.part``'s means it is already whole.
- **Atomic and checked.** The ``.part`` is renamed to the final name only when its length is the server's and, with
  a pinned sha256, its digest is the pin. A mismatch raises :class:`ChecksumMismatch` naming the file and both
  digests, and removes the ``.part`` (the next call starts over).
- **Fails fast.** Connecting and every read time out after ``timeout`` seconds (30 by default): :class:`FetchError`
  names the URL; a connection lost mid-file keeps the ``.part`` for the next call to resume.
- **Large files.** Sizes and offsets are Python integers (a resumed 20 GB file asks for ``bytes=<offset>-`` past
  4 GiB as it is); bytes are written and hashed in 1 MiB chunks, never held whole in memory.
- **Forbidden.** With ``allow_fetch=False`` a missing file raises :class:`FetchForbidden`, naming the URL and the
  path to place the file at.
"""

from __future__ import annotations

import http.client
import os
import re
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from tqdm import tqdm

from lvlm_debias.data.manifest import sha256_file

#: seconds to wait for a connection or for any read before giving up
TIMEOUT = 30.0
#: files at least this large get a progress bar (stderr, which the workflow's jobs send to their log)
PROGRESS_BYTES = 16 << 20
CHUNK = 1 << 20
USER_AGENT = "lvlm-debias (https://arxiv.org/abs/2403.05262 reproduction)"


class FetchError(RuntimeError):
    """A download that could not complete; the message names the URL."""


class FetchForbidden(FetchError):
    """A missing file that the configuration forbids downloading; the message says what to place where."""


class ChecksumMismatch(FetchError):
    """A file whose sha256 is not the pinned one; the message names the file and both digests."""


def local_path(url: str, root: str | Path) -> Path:
    """Where the file at ``url`` is kept: ``root/<host[:port]>/<url path>`` (percent-escapes decoded).

    Raises ``ValueError`` naming the URL when it is not http(s), has a query or fragment, has no file name, or has
    an empty, ``.`` or ``..`` path segment (a file outside ``root``).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{url!r}: only http:// and https:// URLs can be fetched")
    if parts.query or parts.fragment:
        raise ValueError(f"{url!r}: a URL with a query or fragment has no stable file name")
    segments = [unquote(s) for s in parts.path.split("/")[1:]]
    if not segments or any(s in ("", ".", "..") or "/" in s or "\\" in s for s in segments):
        raise ValueError(f"{url!r}: the path must name a file, with no empty, '.' or '..' segment")
    return Path(root) / parts.netloc / PurePosixPath(*segments)


def _why(err: BaseException) -> str:
    reason = getattr(err, "reason", None) or err
    return f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__


def _open(url: str, offset: int, timeout: float):
    """The server's answer to a GET of ``url`` from byte ``offset`` (an HTTPError for 416, which the caller reads)."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416:
            return err
        raise FetchError(f"cannot download {url}: HTTP {err.code} {err.reason}") from err
    except (OSError, http.client.HTTPException) as err:  # URLError is an OSError
        raise FetchError(f"cannot reach {url} ({_why(err)}; timeout {timeout:g} s)") from err


def _content_range(header: str | None) -> tuple[int | None, int | None]:
    """(first byte, total length) of a ``Content-Range`` header (``bytes 10-99/100``, ``bytes */100``); None where
    absent or ``*``."""
    match = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", header or "")
    if not match:
        return None, None
    start, total = match.groups()
    return (int(start) if start else None), (int(total) if total and total != "*" else None)


def _check_sha256(path: Path, expected: str, url: str, dest: Path) -> None:
    """Raise :class:`ChecksumMismatch` when ``path`` (``dest`` or its ``.part``, which is then removed) does not
    have the sha256 ``expected``."""
    actual = sha256_file(path)
    if actual != expected.lower():
        if path != dest:
            path.unlink()
            what = f"the download ({path}) was removed: rerun to download it again"
        else:
            what = "delete it to download it again"
        raise ChecksumMismatch(
            f"{dest}: sha256 is {actual}, but the config pins {expected.lower()} (from {url}); {what}, or correct "
            "the pinned sha256 if the source changed on purpose"
        )


def fetch_url(
    url: str,
    dest: str | Path,
    *,
    sha256: str | None = None,
    allow_fetch: bool = True,
    timeout: float = TIMEOUT,
    progress_bytes: int = PROGRESS_BYTES,
) -> Path:
    """Make ``dest`` a complete copy of ``url`` (see the module docstring: no request when ``dest`` exists; resumes
    ``dest.part``; renames it to ``dest`` only when whole and, with ``sha256``, matching). Returns ``dest``."""
    dest = Path(dest)
    if dest.is_file():
        if sha256:
            _check_sha256(dest, sha256, url, dest)
        return dest
    if not allow_fetch:
        raise FetchForbidden(
            f"{dest} is missing and downloads.fetch: false forbids downloading it from {url}: place that file there "
            f"(e.g. `curl -L --create-dirs -o {dest} {url}` on a machine with internet), or set downloads.fetch: true"
        )
    part = dest.with_name(dest.name + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    offset = part.stat().st_size if part.is_file() else 0
    response = _open(url, offset, timeout)
    with response:
        status = response.status
        total = None
        if status == 416:  # nothing after `offset`: the .part is whole if its length is the file's
            total = _content_range(response.headers.get("Content-Range"))[1]
            if total != offset:
                part.unlink()
                return fetch_url(url, dest, sha256=sha256, timeout=timeout, progress_bytes=progress_bytes)
        else:
            if status == 206:
                start, total = _content_range(response.headers.get("Content-Range"))
                if start != offset:
                    raise FetchError(f"{url}: asked for the bytes from {offset}, the server sent them from {start}")
            elif status == 200:  # the whole file: a fresh start, or a server that ignores Range
                offset = 0
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
            else:
                raise FetchError(f"cannot download {url}: unexpected HTTP {status}")
            _stream(response, part, offset, total, url, timeout, progress_bytes)
    size = part.stat().st_size
    if total is not None and size != total:
        raise FetchError(f"{url}: the connection ended at byte {size} of {total}; {part} is kept, rerun to resume")
    if sha256:
        _check_sha256(part, sha256, url, dest)
    os.replace(part, dest)
    return dest


def _stream(response, part: Path, offset: int, total: int | None, url: str, timeout: float, progress_bytes: int):
    """Append ``response``'s body to ``part`` (truncated first when ``offset`` is 0), with a progress bar for large
    files. A stalled or broken connection raises :class:`FetchError`; what arrived stays in ``part``."""
    bar = tqdm(
        total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024, desc=part.name[: -len(".part")],
        disable=total is not None and total < progress_bytes, mininterval=5.0,
    )  # fmt: skip
    with bar, open(part, "ab" if offset else "wb") as stream:
        try:
            while chunk := response.read(CHUNK):
                stream.write(chunk)
                bar.update(len(chunk))
        except (OSError, http.client.HTTPException) as err:  # timeouts, resets, IncompleteRead
            stream.flush()
            raise FetchError(
                f"{url}: the download broke off after {stream.tell()} bytes ({_why(err)}; timeout {timeout:g} s); "
                f"{part} is kept, rerun to resume"
            ) from err
