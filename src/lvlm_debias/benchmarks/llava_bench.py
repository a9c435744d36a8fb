"""LLaVA-Bench (in the wild): open-ended questions whose labels are GPT-4's reference answers, answered by
generation (``generation.open_ended``) and judged against them; not a classification benchmark, so only its
dataset format is defined here.

Its hub format ``llava_bench`` (``lmms-lab/llava-bench-in-the-wild``, ``data/*.parquet``) has the columns
``question_id``, ``question``, ``image``, ``caption``, ``gpt_answer`` (the reference answer), ``category``.
"""

from __future__ import annotations

import pandas as pd

from lvlm_debias.data.convert import Converter, image_bytes


def records(rows: pd.DataFrame, split: str) -> tuple[list[dict], dict]:
    """LLaVA-Bench (in the wild) rows -> records: open-ended, ``label`` the GPT-4 reference answer, ``subset`` the
    category (conv, detail, complex), ``caption`` the image description the judge reads."""
    out = []
    for row in rows.itertuples(index=False):
        caption = row.caption if isinstance(row.caption, str) else "\n".join(map(str, row.caption))
        out.append(
            {
                "source_id": str(row.question_id),
                "image": image_bytes(row.image),
                "text": str(row.question).strip(),
                "label": str(row.gpt_answer),
                "category": str(row.category),
                "caption": caption,
            }
        )
    return out, {}


LLAVA_BENCH = Converter("llava_bench", records, subset="category", splits=("all",), open_ended=True)
