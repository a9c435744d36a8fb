"""`source: url` datasets (POPE on A-OKVQA and GQA): question files and image zips fetched over HTTP from a local
server made here (127.0.0.1, Range support, every request counted), converted to the hub's POPE records.

Checked: records and labels, images that open, resume of a truncated `.part`, a server that ignores Range, no request
on a rerun, sha256 mismatch, a missing zip member, fetching forbidden, an unreachable or silent server, the config
checks, and the Snakemake rules end to end."""

import copy
import hashlib
import io
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import ROOT
from hub_cache import pope_files
from PIL import Image

from lvlm_debias.benchmarks import converter
from lvlm_debias.config import ConfigError, check_config, check_schema
from lvlm_debias.data.archive import MissingMembers
from lvlm_debias.data.convert import convert_split
from lvlm_debias.data.fetch import ChecksumMismatch, FetchError, FetchForbidden, fetch_url, local_path
from lvlm_debias.data.jsonl import read_jsonl
from lvlm_debias.data.manifest import sha256_file
from lvlm_debias.data.url_dataset import download_url_dataset, write_url_questions
from lvlm_debias.data.vcd_pope import parse_vcd_questions

SCHEMA = ROOT / "config/schema.yaml"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def jpeg(seed: int, size: int = 24) -> bytes:
    """A real JPEG whose colour depends on ``seed``."""
    out = io.BytesIO()
    Image.new("RGB", (size, size), ((50 * seed) % 256, (90 * seed) % 256, (30 * seed) % 256)).save(out, "JPEG")
    return out.getvalue()


def zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(f"{next(iter(members)).split('/')[0]}/", b"")  # a folder entry, as real zips have
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def vcd_questions(images: list[str], json_list: bool = False) -> bytes:
    """VCD's POPE layout: per image 2 questions (yes, then no), ids from 1; JSON Lines or an indented JSON list."""
    objects = ["dog", "elephant", "cell phone", "tree"]
    items = [
        {"question_id": 2 * k + j + 1, "image": image,
         "text": f"Is there {'an' if objects[(k + j) % 4][0] in 'aeiou' else 'a'} {objects[(k + j) % 4]} in the image?",
         "label": ["yes", "no"][j]}
        for k, image in enumerate(images) for j in range(2)
    ]  # fmt: skip
    if json_list:
        return json.dumps(items, indent=4).encode()
    return "".join(json.dumps(item) + "\n" for item in items).encode()


COCO = [f"COCO_val2014_{k:012d}.jpg" for k in (461751, 377368, 563603)]
GQA = ["2405722.jpg", "1339.jpg"]


def source_files() -> dict[str, bytes]:
    """URL path -> bytes: VCD question files for A-OKVQA (COCO names) and GQA, a COCO-like and a GQA-like zip (each
    with an image no question names)."""
    vcd = f"/VCD/{COMMIT}/experiments/data/POPE"
    return {
        f"{vcd}/aokvqa/aokvqa_pope_seem_random.json": vcd_questions(COCO),
        f"{vcd}/aokvqa/aokvqa_pope_seem_popular.json": vcd_questions(COCO[::-1], json_list=True),
        f"{vcd}/aokvqa/aokvqa_pope_seem_adversarial.json": vcd_questions(COCO[:2]),
        f"{vcd}/gqa/gqa_pope_seem_random.json": vcd_questions(GQA),
        "/zips/val2014.zip": zip_of({f"val2014/{n}": jpeg(k) for k, n in enumerate([*COCO, "COCO_val2014_x.jpg"])}),
        "/gqa/images.zip": zip_of({f"images/{n}": jpeg(10 + k) for k, n in enumerate([*GQA, "99.jpg"])}),
    }


@dataclass
class Server:
    """What the test server serves (``files``), how (``ignore_range``; ``cut``: close the connection after that many
    body bytes), and every request it got (path, Range header)."""

    files: dict[str, bytes]
    ignore_range: bool = False
    cut: int | None = None
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def _handler(server: Server):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            wanted = self.headers.get("Range")
            server.requests.append((self.path, wanted))
            data = server.files.get(self.path)
            if data is None:
                self.send_error(404)
                return
            start = int(wanted.removeprefix("bytes=").rstrip("-")) if wanted and not server.ignore_range else 0
            if start >= len(data) and start:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            body = data[start:]
            self.wfile.write(body if server.cut is None else body[: server.cut])
            if server.cut is not None:
                self.close_connection = True

    return Handler


@pytest.fixture()
def server():
    state = Server(source_files())
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def aokvqa_entry(server: Server, **pins) -> dict:
    return {
        "source": "url",
        "format": "pope",
        "questions": {"url": server.url(f"/VCD/{COMMIT}/experiments/data/POPE/aokvqa/aokvqa_pope_seem_{{split}}.json"),
                      **pins.get("questions", {})},
        "images": {"url": server.url("/zips/val2014.zip"), **pins.get("images", {})},
    }  # fmt: skip


def gqa_entry(server: Server) -> dict:
    return {
        "source": "url",
        "format": "pope",
        "questions": {"url": server.url(f"/VCD/{COMMIT}/experiments/data/POPE/gqa/gqa_pope_seem_{{split}}.json")},
        "images": {"url": server.url("/gqa/images.zip")},
    }


def test_library_fetches_converts_and_a_rerun_makes_no_request(tmp_path, server):
    """download_url_dataset fetches the split files and the zip, write_url_questions writes the hub's POPE records
    (same keys in the same order as convert_split's) with only the named images, each opening; the manifests list
    every file with its sha256. A second pass, even without the download manifest, makes no request. Checked to fail
    without the feature: with fetch_url's early return for an existing file removed, the rerun made 3 requests."""
    root = tmp_path / "data/pope_aokvqa"
    manifest = download_url_dataset(aokvqa_entry(server), ["random", "popular"], root, root / "url_files.json")
    assert [(f["role"], f["split"]) for f in manifest["files"]] == [
        ("questions", "random"), ("questions", "popular"), ("images", None)]  # fmt: skip
    for item in manifest["files"]:
        assert sha256_file(root / item["path"]) == item["sha256"]
        assert (root / item["path"]).read_bytes() == server.files[item["url"].split(str(server.port), 1)[1]]
    zip_entry = manifest["files"][-1]
    assert zip_entry["path"] == f"downloads/127.0.0.1:{server.port}/zips/val2014.zip"

    for split, images in (("random", COCO), ("popular", COCO[::-1])):
        out = write_url_questions(manifest, split, root / f"pope_aokvqa/{split}.jsonl",
                                  root / f"pope_aokvqa/{split}.manifest.json", root)  # fmt: skip
        records = read_jsonl(root / f"pope_aokvqa/{split}.jsonl")
        assert out["questions"] == len(records) == 2 * len(images)
        assert [r["question_id"] for r in records] == list(range(len(records)))
        assert [r["source_id"] for r in records] == [str(k + 1) for k in range(len(records))]
        assert [r["label"] for r in records] == ["yes", "no"] * len(images)
        assert [r["image"] for r in records] == [f"images/{name}" for name in images for _ in range(2)]
        assert records[1]["object"] in ("elephant", "cell phone", "tree", "dog") and records[1]["subset"] == split
        assert records[0]["image_source"] == images[0].removesuffix(".jpg")
        for record in records:
            with Image.open(root / record["image"]) as image:
                assert image.format == "JPEG" and image.size == (24, 24)
        assert {f["path"] for f in out["files"]} == {f"pope_aokvqa/{split}.jsonl", *(f"images/{n}" for n in images)}
        for entry in out["files"]:
            assert sha256_file(root / entry["path"]) == entry["sha256"]
    assert not (root / "images/COCO_val2014_x.jpg").exists()  # only the named members are taken out

    snapshot = tmp_path / "hub"
    for name, data in pope_files(2).items():
        (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
        (snapshot / name).write_bytes(data)
    pope = converter("pope")
    hub_records, _ = convert_split(pope, snapshot, ["Full/random-00000-of-00001.parquet"], "random", tmp_path / "h")
    assert list(hub_records[0]) == list(records[0])  # the same schema as the hub's pope format

    before = len(server.requests)
    assert download_url_dataset(aokvqa_entry(server), ["random", "popular"], root, root / "url_files.json") == manifest
    (root / "url_files.json").unlink()
    again = download_url_dataset(aokvqa_entry(server), ["random", "popular"], root, root / "url_files.json")
    assert again["files"] == manifest["files"] and len(server.requests) == before


def test_vcd_files_read_as_json_lines_and_as_a_list():
    """Both layouts VCD's history holds give the same questions; a bad label or image name is named with its line."""
    images = ["a.jpg", "b.jpg"]
    assert parse_vcd_questions(vcd_questions(images).decode(), "x") == parse_vcd_questions(
        vcd_questions(images, json_list=True).decode(), "x"
    )
    bad = vcd_questions(images).decode().replace('"no"', '"maybe"', 1)
    with pytest.raises(ValueError, match=r"x, line 2: label 'maybe' is neither yes nor no"):
        parse_vcd_questions(bad, "x")
    with pytest.raises(ValueError, match=r"image '\.\./a\.jpg' is not a plain file name"):
        parse_vcd_questions(vcd_questions(["../a.jpg"]).decode(), "x")


def test_resume_after_a_truncated_part(tmp_path, server):
    """A connection cut mid-file keeps `<name>.part` and no final file; the next call asks only for the rest (Range)
    and renames the whole file. A .part that already holds every byte gets 416 and is renamed as it is. Checked to
    fail without the feature: without the Range header the second request was a plain GET (asserted below)."""
    data = server.files["/zips/val2014.zip"]
    dest = tmp_path / "val2014.zip"
    part = tmp_path / "val2014.zip.part"
    server.cut = len(data) // 3
    with pytest.raises(FetchError, match="rerun to resume"):
        fetch_url(server.url("/zips/val2014.zip"), dest)
    assert part.read_bytes() == data[: len(data) // 3] and not dest.exists()
    server.cut = None
    fetch_url(server.url("/zips/val2014.zip"), dest)
    assert dest.read_bytes() == data and not part.exists()
    assert server.requests[-1] == ("/zips/val2014.zip", f"bytes={len(data) // 3}-")

    whole = tmp_path / "whole.zip"
    (tmp_path / "whole.zip.part").write_bytes(data)
    fetch_url(server.url("/zips/val2014.zip"), whole)
    assert whole.read_bytes() == data and server.requests[-1][1] == f"bytes={len(data)}-"


def test_a_server_ignoring_range_restarts_cleanly(tmp_path, server):
    """A 200 answer to a Range request (the whole file) replaces the .part's bytes instead of being appended."""
    server.ignore_range = True
    dest = tmp_path / "images.zip"
    (tmp_path / "images.zip.part").write_bytes(b"stale bytes of another attempt")
    fetch_url(server.url("/gqa/images.zip"), dest)
    assert dest.read_bytes() == server.files["/gqa/images.zip"]
    assert server.requests == [("/gqa/images.zip", "bytes=30-")]


def test_progress_bar_only_for_large_files(tmp_path, server, capsys):
    """A file of at least ``progress_bytes`` draws a tqdm bar on stderr (the job's log); a small one draws none."""
    fetch_url(server.url("/gqa/images.zip"), tmp_path / "small.zip")
    assert "small.zip" not in capsys.readouterr().err
    fetch_url(server.url("/gqa/images.zip"), tmp_path / "large.zip", progress_bytes=100)
    err = capsys.readouterr().err
    assert "large.zip" in err and "100%" in err


def test_sha256_mismatch_names_the_file_and_both_hashes(tmp_path, server):
    """A pinned sha256 that the download does not match: ChecksumMismatch naming the file, the pin and the actual
    digest; no final file, no .part left. The right pin passes, and an existing file is checked against it."""
    data = server.files["/zips/val2014.zip"]
    actual, wrong = hashlib.sha256(data).hexdigest(), "ab" * 32
    dest = tmp_path / "val2014.zip"
    with pytest.raises(ChecksumMismatch) as err:
        fetch_url(server.url("/zips/val2014.zip"), dest, sha256=wrong)
    assert str(err.value).startswith(f"{dest}: sha256 is {actual}")
    assert str(dest.with_name("val2014.zip.part")) in str(err.value)
    assert actual in str(err.value) and wrong in str(err.value)
    assert not dest.exists() and not dest.with_name("val2014.zip.part").exists()
    fetch_url(server.url("/zips/val2014.zip"), dest, sha256=actual)
    assert dest.read_bytes() == data
    with pytest.raises(ChecksumMismatch, match="delete it to download it again"):
        fetch_url(server.url("/zips/val2014.zip"), dest, sha256=wrong)

    root = tmp_path / "data"
    with pytest.raises(ChecksumMismatch, match=wrong):
        download_url_dataset(aokvqa_entry(server, images={"sha256": wrong}), ["random"], root, root / "m.json")
    assert not (root / "m.json").exists()


def test_each_split_is_checked_against_its_own_pin(tmp_path, server):
    """questions.sha256 pins each split's file: the right pin for random passes, a wrong one for popular raises
    ChecksumMismatch naming popular's file, the pin and the actual digest, and no download manifest is written."""
    vcd = f"/VCD/{COMMIT}/experiments/data/POPE/aokvqa/aokvqa_pope_seem_{{}}.json"
    random, popular = (hashlib.sha256(server.files[vcd.format(s)]).hexdigest() for s in ("random", "popular"))
    wrong = "cd" * 32
    root = tmp_path / "data"
    entry = aokvqa_entry(server, questions={"sha256": {"random": random, "popular": wrong}})
    with pytest.raises(ChecksumMismatch) as err:
        download_url_dataset(entry, ["random", "popular"], root, root / "m.json")
    assert "aokvqa_pope_seem_popular.json" in str(err.value) and popular in str(err.value) and wrong in str(err.value)
    assert not (root / "m.json").exists()
    fetched = local_path(server.url(vcd.format("random")), root / "downloads")
    assert sha256_file(fetched) == random  # the split with the right pin was kept
    entry["questions"]["sha256"]["popular"] = popular
    manifest = download_url_dataset(entry, ["random", "popular"], root, root / "m.json")
    assert [f["sha256"] for f in manifest["files"][:2]] == [random, popular]


def test_paper_config_pins_the_six_vcd_question_files(default_config):
    """The paper config pins every split of both url datasets (the digests of VCD's files at commit 039af55), and
    url_files hands each split its own pin."""
    import yaml

    from lvlm_debias.data.url_dataset import url_files

    paper = yaml.safe_load((ROOT / "config/paper.yaml").read_text())
    check_schema(paper, SCHEMA)
    pins = {}
    for name in ("pope_aokvqa", "pope_gqa"):
        files = url_files(paper["datasets"][name], ["random", "popular", "adversarial"])
        pins |= {f["url"].rsplit("/", 1)[1]: f["sha256"] for f in files if f["role"] == "questions"}
    assert pins == {
        "aokvqa_pope_seem_random.json": "f06eecde6d6ef4a00b95a7bbb510490708a09a6a67d952b59b8bdd33ac2c7200",
        "aokvqa_pope_seem_popular.json": "2ae5bedee3450cda52f9b033942c7b04a3917a86a110e859a66c1e41934c6ffd",
        "aokvqa_pope_seem_adversarial.json": "2ddd3bdfa0df7a77a2cb1765ed06ac5ed190b5a093aa405b96986e862e8cdac1",
        "gqa_pope_seem_random.json": "6ce488eade3770185034939fabfe742fa32ed369011c8d9c3ac77bc0c85abd94",
        "gqa_pope_seem_popular.json": "dd03f06a458dd216e83233160fbf6628af9c63c84b11e99599f4fc0304b3361d",
        "gqa_pope_seem_adversarial.json": "74e01b41d8308e2392e3b8d961167496ff3901c01100265d931a7a392f138a7a",
    }


def test_missing_zip_member_is_named_and_nothing_is_written(tmp_path, server):
    """A question naming an image the zip lacks: MissingMembers naming the zip and the image; no question file."""
    server.files[f"/VCD/{COMMIT}/experiments/data/POPE/aokvqa/aokvqa_pope_seem_random.json"] = vcd_questions(
        [COCO[0], "COCO_val2014_000000999999.jpg"]
    )
    root = tmp_path / "data"
    manifest = download_url_dataset(aokvqa_entry(server), ["random"], root, root / "m.json")
    with pytest.raises(MissingMembers, match=r"val2014\.zip lacks 1 of the 2 files asked for: COCO_val2014_0+999999"):
        write_url_questions(manifest, "random", root / "q/random.jsonl", root / "q/random.manifest.json", root)
    assert not (root / "q").exists() and not (root / "images").exists()


def zip64_of(members: dict[str, bytes], monkeypatch) -> bytes:
    """A zip whose every structure is the zip64 form a 20 GB, > 65535-entry archive has, made cheaply: the writer's
    limits are lowered to 64 bytes and 1 entry while it writes, so each member gets a zip64 local header
    (force_zip64) and a zip64 extra field for its sizes and offset in the central directory (the 32-bit fields hold
    0xFFFFFFFF), and the archive gets the zip64 end-of-central-directory record and locator. The classic end record's
    count, size and offset are then set to their "see zip64" values (0xFFFF, 0xFFFFFFFF), as in a real archive of that
    size, so a reader that ignored the zip64 records would find nothing."""
    out = io.BytesIO()
    with monkeypatch.context() as patch:
        patch.setattr(zipfile, "ZIP64_LIMIT", 64)
        patch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)
        with zipfile.ZipFile(out, "w", allowZip64=True) as archive:
            archive.writestr("images/", b"")
            for name, data in members.items():
                with archive.open(name, "w", force_zip64=True) as member:
                    member.write(data)
    data = bytearray(out.getvalue())
    end = data.rindex(b"PK\x05\x06")  # classic end of central directory: entries on disk, total, size, offset
    struct.pack_into("<HHII", data, end + 8, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    return bytes(data)


def test_zip64_archive_members_are_found_and_copied(tmp_path, monkeypatch):
    """GQA's images.zip is about 20 GB: zip64. extract_named (Python's zipfile, reading the central directory) finds
    members by base name in a zip whose counts, sizes and offsets are only in zip64 records, and copies their bytes.
    The archive is checked to hold those records (end record b'PK\\x06\\x06', locator b'PK\\x06\\x07', zip64 extra
    fields 0x0001 in the central directory)."""
    from lvlm_debias.data.archive import extract_named

    members = {f"images/{n}": jpeg(20 + k) for k, n in enumerate([*GQA, "99.jpg"])}
    blob = zip64_of(members, monkeypatch)
    assert b"PK\x06\x06" in blob and b"PK\x06\x07" in blob
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        infos = {i.filename: i for i in archive.infolist()}
        assert all(i.extra[:2] == b"\x01\x00" for n, i in infos.items() if n != "images/")  # zip64 extra field
        assert infos["images/1339.jpg"].header_offset > 64  # its real offset, read from the zip64 extra
    path = tmp_path / "images.zip"
    path.write_bytes(blob)
    out = extract_named(path, GQA, tmp_path / "out")
    assert {name: p.read_bytes() for name, p in out.items()} == {n: members[f"images/{n}"] for n in GQA}
    assert not (tmp_path / "out/99.jpg").exists()


def test_no_32_bit_sizes_in_the_resume_path():
    """Content-Range of a resumed 20 GB download: offsets and lengths past 4 GiB are read as they are."""
    from lvlm_debias.data.fetch import _content_range

    assert _content_range("bytes 5000000000-21474836479/21474836480") == (5_000_000_000, 21_474_836_480)
    assert _content_range("bytes */21474836480") == (None, 21_474_836_480)


def test_fetch_forbidden_says_what_to_place_where(tmp_path, server):
    """downloads.fetch: false and a missing file: FetchForbidden naming the path and the URL, and no request."""
    root = tmp_path / "data"
    with pytest.raises(FetchForbidden) as err:
        download_url_dataset(aokvqa_entry(server), ["random"], root, root / "m.json", allow_fetch=False)
    path = local_path(aokvqa_entry(server)["questions"]["url"].format(split="random"), root / "downloads")
    assert str(path) in str(err.value) and "downloads.fetch: false" in str(err.value)
    assert server.url("/VCD/") in str(err.value) and server.requests == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_or_silent_server_fails_fast_naming_the_url(tmp_path):
    """A refused connection fails at once; a server that accepts but never answers fails after the timeout (1 s
    here, 30 s by default); both name the URL and leave no file."""
    url = f"http://127.0.0.1:{_closed_port()}/zips/val2014.zip"
    start = time.monotonic()
    with pytest.raises(FetchError, match=f"cannot reach {url}"):
        fetch_url(url, tmp_path / "a.zip")
    assert time.monotonic() - start < 10

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/zips/val2014.zip"
        start = time.monotonic()
        with pytest.raises(FetchError, match=f"cannot reach {url}.*timeout 1 s"):
            fetch_url(url, tmp_path / "b.zip", timeout=1)
        assert time.monotonic() - start < 10
    assert not any(tmp_path.iterdir())


def test_local_path_refuses_urls_outside_the_folder(tmp_path):
    assert local_path("https://h.org/a/b%20c.zip", tmp_path) == tmp_path / "h.org/a/b c.zip"
    for url in ("ftp://h.org/a.zip", "https://h.org/a/../../b.zip", "https://h.org/a.zip?x=1", "https://h.org/"):
        with pytest.raises(ValueError, match="URL|path|query"):
            local_path(url, tmp_path)


URL_ENTRY = {
    "source": "url",
    "format": "pope",
    "questions": {"url": "https://example.org/VCD/c/aokvqa_pope_seem_{split}.json"},
    "images": {"url": "http://example.org/zips/val2014.zip"},
}


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda e: e.pop("images"), "datasets.pope_aokvqa: 'images' is a required property"),
        (lambda e: e.update(repo="a/b"), "datasets.pope_aokvqa.repo: unknown key in datasets.pope_aokvqa"),
        (lambda e: e.update(format="mme"), "datasets.pope_aokvqa.format: 'mme' is not allowed; allowed values"),
        (lambda e: e["questions"].update(url="https://example.org/random.json"), "datasets.pope_aokvqa.questions.url"),
        (lambda e: e["images"].update(url="https://example.org/images.tar"), "datasets.pope_aokvqa.images.url"),
        (lambda e: e["images"].update(sha256="abc"), "datasets.pope_aokvqa.images.sha256: 'abc' does not match"),
        (lambda e: e["questions"].update(sha256={"test": "ab" * 32}), "'test' is not allowed"),
        (lambda e: e.update(source="ftp"), "datasets.pope_aokvqa.source: 'ftp' is not allowed; allowed values"),
    ],
)  # fmt: skip
def test_schema_names_the_bad_key_of_a_url_dataset(default_config, change, expected):
    config = copy.deepcopy(default_config)
    config["datasets"] = {"pope_aokvqa": copy.deepcopy(URL_ENTRY)}
    check_schema(config, SCHEMA)  # the entry as given is valid
    change(config["datasets"]["pope_aokvqa"])
    with pytest.raises(ConfigError) as err:
        check_schema(config, SCHEMA)
    assert expected in str(err.value)


def test_config_checks_what_the_schema_cannot(default_config):
    """Only POPE benchmarks may use a url dataset; a URL with a '..' segment is refused, naming the key."""
    config = copy.deepcopy(default_config)
    config["datasets"] = {"pope_aokvqa": copy.deepcopy(URL_ENTRY)}
    config["benchmarks"]["pope_aokvqa"] = {"dataset": "pope_aokvqa"}
    check_config(config)
    config["benchmarks"]["mme"] = {"dataset": "pope_aokvqa"}
    with pytest.raises(ConfigError, match="benchmarks.mme.dataset 'pope_aokvqa' is a `source: url` dataset"):
        check_config(config)
    config["benchmarks"]["mme"] = default_config["benchmarks"]["mme"]
    config["datasets"]["pope_aokvqa"]["images"]["url"] = "http://example.org/zips/../../x.zip"
    with pytest.raises(ConfigError, match=r"datasets.pope_aokvqa.images.url: .*'\.\.' segment"):
        check_config(config)


def _env() -> dict:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p),
        "HF_HUB_OFFLINE": "1",
    }


def _snakemake(workdir, config: dict, *args: str) -> subprocess.CompletedProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(json.dumps(config))
    command = [sys.executable, "-m", "snakemake", "--cores", "1", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
               *args, "--configfile", str(workdir / "config.yaml")]  # fmt: skip
    return subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_url_rules_end_to_end(tmp_path, server, default_config):
    """Snakemake on a config with POPE A-OKVQA (2 splits) and GQA (1 split) from the local server: rules url_dataset
    and url_questions write the question files where the scoring rules read them, with images that open; a second
    run has nothing to do and makes no request; with downloads.fetch: false in an empty folder, url_dataset fails
    saying which file to place where. Checked to fail without the wiring: without rule url_questions Snakemake had
    "No rule to produce" the question files."""
    config = copy.deepcopy(default_config)
    config["datasets"] = {"pope_aokvqa": aokvqa_entry(server), "pope_gqa": gqa_entry(server)}
    config["benchmarks"]["pope_aokvqa"] = {"dataset": "pope_aokvqa", "splits": ["random", "adversarial"]}
    config["benchmarks"]["pope_gqa"] = {"dataset": "pope_gqa", "splits": ["random"]}
    targets = ["data/pope_aokvqa/pope_aokvqa/random.jsonl", "data/pope_aokvqa/pope_aokvqa/adversarial.jsonl",
               "data/pope_gqa/pope_gqa/random.jsonl"]  # fmt: skip
    run = _snakemake(tmp_path / "run", config, *targets)
    assert run.returncode == 0, run.stderr[-4000:]
    data = tmp_path / "run/data"
    for target, n, names in ((targets[0], 6, COCO), (targets[1], 4, COCO[:2]), (targets[2], 4, GQA)):
        records = read_jsonl(tmp_path / "run" / target)
        assert len(records) == n and [r["label"] for r in records] == ["yes", "no"] * (n // 2)
        assert sorted({r["image"] for r in records}) == sorted(f"images/{name}" for name in names)
        root = data / target.split("/")[1]
        for record in records:
            with Image.open(root / record["image"]) as image:
                image.verify()
        manifest = json.loads((tmp_path / "run" / target.replace(".jsonl", ".manifest.json")).read_text())
        assert manifest["questions"] == n and len(manifest["files"]) == 1 + len(names)
    downloads = json.loads((data / "pope_aokvqa/url_files.json").read_text())
    assert [f["split"] for f in downloads["files"]] == ["adversarial", "random", None]  # the benchmark's splits
    assert sorted(p.name for p in (data / "pope_gqa/images").iterdir()) == sorted(GQA)

    before = len(server.requests)
    again = _snakemake(tmp_path / "run", config, "-n", *targets)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
    assert len(server.requests) == before

    config["downloads"] = {"fetch": False}
    forbidden = _snakemake(tmp_path / "offline", config, targets[2])
    assert forbidden.returncode != 0
    log = (tmp_path / "offline/logs/url_dataset/pope_gqa.log").read_text()
    assert "FetchForbidden" in log and "downloads.fetch: false" in log and "gqa_pope_seem_random.json" in log
    assert len(server.requests) == before
