"""Saving figures as PNG and PDF with a fixed, headless backend."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def save_figure(fig: plt.Figure, *paths: str | Path) -> None:
    """Write ``fig`` to each path (format from the suffix) and close it; no dates are embedded, so reruns match."""
    for path in paths:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        metadata = {"CreationDate": None} if path.suffix == ".pdf" else {"Software": None}
        fig.savefig(path, dpi=150, bbox_inches="tight", metadata=metadata)
    plt.close(fig)
