"""Reading a question's image."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from PIL import Image


def load_image(image_root: Path, record: Mapping) -> Image.Image:
    """The record's image as RGB; a missing or unreadable file raises an error naming it and the question."""
    path = Path(image_root) / record["image"]
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read image {path} of question {record.get('question_id')!r}: {err}") from err
