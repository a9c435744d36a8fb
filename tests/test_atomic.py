"""Atomic writes: a finished file appears whole with the mode a plain open() gives it; a failed write leaves nothing."""

import os

import pandas as pd
import pytest

from lvlm_debias.atomic import atomic_path
from lvlm_debias.tables import write_csv


def test_written_file_has_the_umask_mode_and_a_failure_leaves_nothing(tmp_path):
    """Checked to fail without the chmod: the tables were written 0600 (mkstemp's mode), unreadable by a cluster
    group sharing the results."""
    old = os.umask(0o022)
    try:
        write_csv(pd.DataFrame({"a": [1]}), tmp_path / "t" / "x.csv")
    finally:
        os.umask(old)
    assert (tmp_path / "t" / "x.csv").stat().st_mode & 0o777 == 0o644
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "y.csv") as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]
