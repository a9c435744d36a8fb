"""Report pieces: tables escape model text and format numbers for reading."""

import pandas as pd

from lvlm_debias.report.html import table_html


def test_cells_are_escaped_and_numbers_readable():
    table = pd.DataFrame({"answer": ["<script>alert(1)</script>"], "accuracy": [0.6789], "seconds": [1786.29]})
    html = table_html(table, percent=["accuracy"])
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "67.9" in html and "1786.3" in html and "e+03" not in html
