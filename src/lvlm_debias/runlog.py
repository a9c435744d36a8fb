"""Logging for workflow jobs: everything a job prints, progress bars included, goes to its Snakemake log file."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def log_to(path: str | Path) -> Iterator[logging.Logger]:
    """Send stderr (where tqdm draws) and the ``logging`` records of the whole library to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", buffering=1) as stream, contextlib.redirect_stderr(stream):
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            yield logging.getLogger("lvlm_debias")
        except BaseException:
            logging.getLogger("lvlm_debias").exception("job failed")
            raise
        finally:
            root.removeHandler(handler)
