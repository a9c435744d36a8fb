"""Question files are checked before any model work: a bad record stops the job naming the file and record, or is
left out and counted when scoring.skip_bad_records is on."""

import json

import numpy as np
import pytest
from PIL import Image

from lvlm_debias.data.questions import load_questions, read_skipped, write_skipped


def _file(tmp_path, records):
    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(tmp_path / "ok.png")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG not really")
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _q(qid, **change):
    return {"question_id": qid, "image": "ok.png", "text": "Is there a star?", "label": "yes", **change}


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"question_id": 2, "image": "ok.png", "label": "yes"}, r"missing field\(s\) \['text'\]"),
        (_q(2, label="maybe"), r"label 'maybe' is not one of \['yes', 'no'\]"),
        (_q(1), "question_id 1 appears twice"),
        (_q(2, image="gone.png"), r"image .*gone.png cannot be read \(FileNotFoundError"),
        (_q(2, image="corrupt.png"), r"image .*corrupt.png cannot be read"),
    ],
)
def test_a_bad_record_is_named(tmp_path, bad, reason):
    """Checked to fail without the protection: before this module, a missing field surfaced as a bare KeyError
    deep in the scoring, naming neither the file nor the record."""
    path = _file(tmp_path, [_q(1), bad, _q(3)])
    with pytest.raises(ValueError, match=rf"q.jsonl, record 2 \(question_id {bad.get('question_id')!r}\): {reason}"):
        load_questions(path, tmp_path, ["yes", "no"])
    good, skipped = load_questions(path, tmp_path, ["yes", "no"], skip_bad=True)
    assert [q["question_id"] for q in good] == [1, 3]
    assert [(b.record, b.question_id) for b in skipped] == [(2, bad["question_id"])]


def test_empty_and_all_bad_files_fail(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(ValueError, match="empty.jsonl is empty"):
        load_questions(empty, tmp_path)
    path = _file(tmp_path, [_q(1, image="gone.png")])
    with pytest.raises(ValueError, match="none of its 1 records is usable"):
        load_questions(path, tmp_path, skip_bad=True)


def test_skipped_records_metadata_round_trip(tmp_path):
    path = _file(tmp_path, [_q(1), _q(2, image="gone.png")])
    _, skipped = load_questions(path, tmp_path, skip_bad=True)
    meta = tmp_path / "out/label_probs.meta.json"
    write_skipped(meta, path, skipped)
    assert read_skipped(meta) == 1
    data = json.loads(meta.read_text())
    assert data["skipped"][0]["question_id"] == 2 and "gone.png" in data["skipped"][0]["reason"]
    write_skipped(meta, path, [])
    assert read_skipped(meta) == 0
