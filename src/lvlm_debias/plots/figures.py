"""Saving figures as PNG and PDF with a fixed, headless backend."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def save_figure(fig: plt.Figure, *paths: str | Path) -> None:
    """Write ``fig`` to each path (format from the suffix) and close it; no dates are embedded, so reruns match.
    Each file is written to a temporary name in its folder and then renamed, so no half-written figure is ever seen."""
    for path in paths:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        metadata = {"CreationDate": None} if path.suffix == ".pdf" else {"Software": None}
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
        os.close(fd)
        try:
            fig.savefig(tmp, dpi=150, bbox_inches="tight", metadata=metadata, format=path.suffix.lstrip("."))
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    plt.close(fig)
