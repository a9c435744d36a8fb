"""Hub faults fail within 30 s with a message naming the repo and what to do, and never the token; a filled local
hub cache loads offline through the same code path as a download would."""

import hashlib
import http.server
import os
import re
import socket
import subprocess
import sys
import threading
import time

import pytest
from conftest import ROOT

REPO = "org/tiny-llava"
REVISION = "0123456789abcdef0123456789abcdef01234567"
SECRET = "hf_TokenValueThatMustNotBePrinted42"
LOAD = f"from lvlm_debias.models.load import load_model; load_model({REPO!r}, revision={{revision!r}}, device='cpu')"


class _Hub(http.server.BaseHTTPRequestHandler):
    """Answers every request with the status and X-Error-Code the hub uses for the fault under test."""

    answer = (200, "")

    def _reply(self):
        status, code = self.server.answer
        self.send_response(status)
        self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", "fault under test")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET = _reply

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def hub():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _load(tmp_path, revision=REVISION, **env):
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_OFFLINE": "0",
        "HF_TOKEN": SECRET,
        **env,
    }
    start = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-c", LOAD.format(revision=revision)], env=environment, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    return run, time.monotonic() - start


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (401, "GatedRepo", f"model '{REPO}' at revision '{REVISION}' is gated and a token is set \\(HF_TOKEN"),
        (404, "RevisionNotFound", f"model '{REPO}' has no revision '{REVISION}'"),
        (404, "RepoNotFound", f"model '{REPO}' at revision '{REVISION}' does not exist, or is private"),
    ],
)
def test_hub_faults_are_named_quickly(hub, tmp_path, status, code, message):
    """Checked to fail without the protection: without check_hub_access, transformers' own message for these names
    no revision and no remedy, and an unreachable hub took 142 s."""
    hub.answer = (status, code)
    run, seconds = _load(tmp_path, HF_ENDPOINT=f"http://127.0.0.1:{hub.server_address[1]}")
    assert run.returncode != 0 and seconds < 30
    assert "HubAccessError" in run.stderr
    assert re.search(message, run.stderr), run.stderr[-1500:]
    assert SECRET not in run.stderr + run.stdout


def test_unreachable_hub_and_empty_offline_cache(tmp_path):
    run, seconds = _load(tmp_path, HF_ENDPOINT=f"http://127.0.0.1:{_closed_port()}")
    assert run.returncode != 0 and seconds < 30
    assert "cannot be reached" in run.stderr and REPO in run.stderr
    run, seconds = _load(tmp_path, HF_HUB_OFFLINE="1")
    assert run.returncode != 0 and seconds < 30
    assert "is not in the local Hugging Face cache" in run.stderr and f"hf download {REPO}" in run.stderr
    assert SECRET not in run.stderr + run.stdout


def _fill_cache(tmp_path, tiny_llava):
    """The on-disk layout snapshot_download leaves: models--org--name/{blobs,snapshots/<rev>,refs/main}."""
    model, processor = tiny_llava
    repo = tmp_path / "hf/hub/models--org--tiny-llava"
    snapshot = repo / "snapshots" / REVISION
    model.save_pretrained(snapshot)
    processor.save_pretrained(snapshot)
    (repo / "blobs").mkdir()
    for path in snapshot.iterdir():  # blobs hold the bytes under their hash; snapshots link to them
        blob = repo / "blobs" / hashlib.sha256(path.read_bytes()).hexdigest()
        path.rename(blob)
        path.symlink_to(os.path.relpath(blob, snapshot))
    (repo / "refs").mkdir()
    (repo / "refs/main").write_text(REVISION)


def test_filled_cache_loads_offline(tmp_path, tiny_llava):
    _fill_cache(tmp_path, tiny_llava)
    for revision in (REVISION, None):
        run, _ = _load(tmp_path, revision=revision, HF_HUB_OFFLINE="1", HF_ENDPOINT="http://127.0.0.1:9")
        assert run.returncode == 0, run.stderr[-2000:]


MIRRORED = """
import logging
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
from lvlm_debias.models.download import download_first
download_first(["lmms-lab/POPE", "lmms-lab-encoder/POPE"], {manifest!r}, revision={revision!r}, repo_type="dataset",
               allow_patterns=["README.md"])
"""


@pytest.mark.parametrize(("status", "code", "falls_back"), [(404, "RepoNotFound", True), (401, "GatedRepo", False)])
def test_only_a_missing_repo_passes_to_its_mirror(hub, tmp_path, status, code, falls_back):
    """Online: a repo the hub does not know (404 RepoNotFound) passes to the mirror (here missing too, so the error
    names both); a gated repo is a fault of its own and stops at once, naming it, without trying the mirror."""
    hub.answer = (status, code)
    environment = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HOME": str(tmp_path / "hf"),
                   "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": f"http://127.0.0.1:{hub.server_address[1]}"}  # fmt: skip
    code_text = MIRRORED.format(manifest=str(tmp_path / "hub_files.json"), revision=REVISION)
    run = subprocess.run([sys.executable, "-c", code_text], env=environment, capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert run.returncode != 0 and "HubAccessError" in run.stderr
    assert ("trying lmms-lab-encoder/POPE" in run.stderr) == falls_back, run.stderr[-2000:]
    if falls_back:
        assert "none of ['lmms-lab/POPE', 'lmms-lab-encoder/POPE'] is found" in run.stderr
        assert "dataset 'lmms-lab-encoder/POPE' at revision" in run.stderr and "does not exist" in run.stderr
    else:
        assert "dataset 'lmms-lab/POPE' at revision" in run.stderr and "is gated" in run.stderr
    assert not (tmp_path / "hub_files.json").exists()
