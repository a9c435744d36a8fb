"""Saving figures as PNG and PDF with a fixed, headless backend."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from lvlm_debias.atomic import atomic_path


def save_figure(fig: plt.Figure, *paths: str | Path) -> None:
    """Write ``fig`` to each path (format from the suffix) and close it; no dates are embedded, so reruns match.
    Each file is written to a temporary name in its folder and then renamed, so no half-written figure is ever seen."""
    for path in paths:
        path = Path(path)
        metadata = {"CreationDate": None} if path.suffix == ".pdf" else {"Software": None}
        with atomic_path(path, suffix=path.suffix) as tmp:
            fig.savefig(tmp, dpi=150, bbox_inches="tight", metadata=metadata, format=path.suffix.lstrip("."))
    plt.close(fig)
