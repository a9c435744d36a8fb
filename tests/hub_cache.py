"""A local Hugging Face hub cache, laid out as snapshot_download leaves it, for tests that run offline.

``<cache>/<type>s--<org>--<name>/blobs/<sha256>`` hold the bytes, ``snapshots/<revision>/<path>`` link to them,
``refs/main`` names the revision.
"""

import hashlib
import io
import os
from pathlib import Path

import pandas as pd
from PIL import Image

REVISION = "0123456789abcdef0123456789abcdef01234567"


def fill_hub_cache(cache: Path, repo_type: str, repo_id: str, files: dict[str, bytes], revision: str = REVISION):
    """Put ``files`` (repo path -> bytes) into ``cache`` as repo ``repo_id`` at ``revision``; return the snapshot."""
    repo = cache / f"{repo_type}s--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / revision
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs/main").write_text(revision)
    return snapshot


def checkpoint_files(tiny_llava, folder: Path) -> dict[str, bytes]:
    """The files of the tiny LLaVA's ``save_pretrained`` (model and processor), as bytes."""
    model, processor = tiny_llava
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def png(seed: int, size: int = 32) -> bytes:
    """A small PNG whose pixels depend on ``seed``."""
    image = Image.new("RGB", (size, size), ((37 * seed) % 256, (91 * seed) % 256, (13 * seed) % 256))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def parquet(rows: list[dict]) -> bytes:
    """``rows`` as parquet bytes; image cells as the datasets library stores them ({"bytes", "path"})."""
    out = io.BytesIO()
    pd.DataFrame(rows).to_parquet(out, index=False)
    return out.getvalue()


def image_cell(seed: int) -> dict:
    return {"bytes": png(seed), "path": None}


def pope_files(questions_per_split: int = 6) -> dict[str, bytes]:
    """lmms-lab/POPE's ``Full`` config: one parquet per split, 3 images, yes/no alternating."""
    files = {"README.md": b"# POPE (test copy)\n"}
    for split in ("random", "popular", "adversarial"):
        rows = [
            {
                "id": str(i),
                "question_id": str(i + 1),
                "question": f"Is there a {['circle', 'star', 'square'][i % 3]} in the image?",
                "answer": ["yes", "no"][i % 2],
                "image_source": f"COCO_val2014_{i % 3:012d}",
                "image": image_cell(i % 3),
                "category": split,
            }
            for i in range(questions_per_split)
        ]
        files[f"Full/{split}-00000-of-00001.parquet"] = parquet(rows)
    return files


def mme_files() -> dict[str, bytes]:
    """lmms-lab/MME: two questions (Yes, No) per image and subtask."""
    rows = []
    for k, category in enumerate(["existence", "count", "code_reasoning"]):
        for answer in ("Yes", "No"):
            rows.append(
                {
                    "question_id": f"{category}/{k:04d}.png",
                    "image": image_cell(10 + k),
                    "question": f"Is there a circle in the image? Please answer yes or no. ({answer})",
                    "answer": answer,
                    "category": category,
                }
            )
    return {"README.md": b"# MME (test copy)\n", "data/test-00000-of-00001.parquet": parquet(rows)}


def mmmu_files() -> dict[str, bytes]:
    """MMMU/MMMU: per subject folder a validation parquet; one open question and one with 5 options to leave out."""
    files = {"README.md": b"# MMMU (test copy)\n"}
    for s, subject in enumerate(["Art", "Math"]):
        rows = []
        for i in range(4):
            options = ["circle", "star", "square", "heart", "cross"][: 5 if i == 3 else 4]
            rows.append(
                {
                    "id": f"validation_{subject}_{i + 1}",
                    "question": f"<image 1> Which shape is shown? ({i})",
                    "options": str(options) if i != 2 else "[]",
                    "explanation": "",
                    "image_1": image_cell(20 + s * 4 + i),
                    "image_2": image_cell(99) if i == 1 else None,
                    "img_type": "['Diagrams']",
                    "answer": "ABCD"[i % 4] if i != 2 else "42",
                    "topic_difficulty": "Easy",
                    "question_type": "open" if i == 2 else "multiple-choice",
                    "subfield": subject,
                }
            )
        files[f"{subject}/validation-00000-of-00001.parquet"] = parquet(rows)
    return files


def llava_bench_files() -> dict[str, bytes]:
    """lmms-lab/llava-bench-in-the-wild: open questions with GPT-4 reference answers."""
    rows = [
        {
            "question_id": i,
            "question": f"Describe the image ({i}).",
            "image": image_cell(40 + i % 2),
            "caption": "A test image.",
            "gpt_answer": "A plain coloured square.",
            "category": ["conv", "detail", "complex"][i % 3],
            "image_id": f"{i % 2:03d}",
        }
        for i in range(3)
    ]
    return {"README.md": b"# LLaVA-Bench (test copy)\n", "data/train-00000-of-00001.parquet": parquet(rows)}
