"""Tables and findings of the generation experiments: CHAIR per decoding method and setting (captions), and the
classification benchmarks answered by generation with each decoding method (VDD vs VCD vs naive)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from lvlm_debias.benchmarks import AnswerParser, benchmark, metrics
from lvlm_debias.decoding.decode import SETTINGS
from lvlm_debias.decoding.methods import DECODING_METHODS, NAIVE
from lvlm_debias.metrics.chair import WORD, caption_segments, chair_metrics, find_mentions, synonym_table

#: how a ground-truth object list is stored in a CSV cell
OBJECT_SEPARATOR = ";"

CAPTION_COLUMNS = ["setting", "config", "method", "question_id", "image", "objects", "caption"]
ANSWER_COLUMNS = [
    "setting", "config", "method", "question_id", "image", "pair", "subset", "label", "answer", "prediction", "parser",
]  # fmt: skip


def objects_of(cell: object) -> list[str]:
    """The object names of a stored ``objects`` cell ("" or NaN: none)."""
    return [o for o in str(cell).split(OBJECT_SEPARATOR) if o] if isinstance(cell, str) else []


def caption_frame(decoded: pd.DataFrame, records: Sequence[Mapping]) -> pd.DataFrame:
    """``CAPTION_COLUMNS``: generated texts (``decoding.decode.decode_records``) with each image's ground-truth
    objects (from the caption question ``records``)."""
    objects = {r["question_id"]: OBJECT_SEPARATOR.join(r["objects"]) for r in records}
    frame = decoded.rename(columns={"text": "caption"})
    frame["objects"] = frame["question_id"].map(objects)
    return frame[CAPTION_COLUMNS]


def answer_frame(decoded: pd.DataFrame, records: Sequence[Mapping], parse: AnswerParser) -> pd.DataFrame:
    """``ANSWER_COLUMNS``: generated answers of benchmark questions (``records``) with their ``pair`` (MME's image
    id; "" where a record has none), subset, gold label, the label ``parse(text, label)`` reads from the answer
    ("other" when none) and the parser's name (``parser``)."""
    by_id = {r["question_id"]: r for r in records}
    frame = decoded.rename(columns={"text": "answer"})
    frame["pair"] = [by_id[q].get("pair", "") for q in frame["question_id"]]
    frame["subset"] = [by_id[q].get("subset", "") for q in frame["question_id"]]
    frame["label"] = [by_id[q]["label"] for q in frame["question_id"]]
    frame["answer"] = frame["answer"].fillna("")
    frame["prediction"] = [parse(a, y) for a, y in zip(frame["answer"], frame["label"], strict=True)]
    frame["parser"] = parse.name
    return frame[ANSWER_COLUMNS]


def ordered(table: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """``table`` sorted by ``by`` columns, then setting (default first) and method (the paper's order)."""
    order = {m: i for i, m in enumerate(DECODING_METHODS)} | {s: i for i, s in enumerate(SETTINGS)}
    return table.sort_values(
        [*by, "setting", "method"],
        key=lambda c: c.map(order) if c.name in ("setting", "method") else c,
        kind="stable",
    )


def chair_table(captions: pd.DataFrame, vocabulary: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """One row per setting and method (``CAPTION_COLUMNS`` in): the decoding configuration, CHAIR_i, CHAIR_s,
    object recall, mean length in words, and the numbers of mentions and captions (``metrics.chair``)."""
    rows = []
    for (setting, method), group in captions.groupby(["setting", "method"], sort=False):
        scores = chair_metrics(
            [str(c) if isinstance(c, str) else "" for c in group["caption"]],
            [objects_of(o) for o in group["objects"]],
            vocabulary,
        )
        rows.append({"setting": setting, "config": group["config"].iloc[0], "method": method, **scores})
    return ordered(pd.DataFrame(rows)).reset_index(drop=True)


CAPTION_CHAIR_COLUMNS = ["setting", "config", "method", "question_id", "image", "mentions", "hallucinated", "found",
                         "objects", "words"]  # fmt: skip


def chair_per_caption(captions: pd.DataFrame, vocabulary: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """One row per caption (``CAPTION_COLUMNS`` in; ``CAPTION_CHAIR_COLUMNS`` out): its object ``mentions``, the
    ``hallucinated`` ones among them, the distinct ground-truth objects it ``found``, the ground-truth ``objects`` and
    its ``words``. Over a group of captions, CHAIR_i = sum hallucinated / sum mentions, CHAIR_s = share of rows with
    hallucinated > 0, recall = sum found / sum objects (``metrics.chair``): what a bootstrap over images resamples."""
    table = synonym_table(vocabulary)
    rows = []
    for row in captions.itertuples(index=False):
        text = row.caption if isinstance(row.caption, str) else ""
        truth = objects_of(row.objects)
        mentions = find_mentions(text, table, truth)
        rows.append(
            {
                "setting": row.setting,
                "config": row.config,
                "method": row.method,
                "question_id": row.question_id,
                "image": row.image,
                "mentions": len(mentions),
                "hallucinated": sum(m.hallucinated for m in mentions),
                "found": len({m.object for m in mentions} & set(truth)),
                "objects": len(set(truth)),
                "words": len(WORD.findall(text.lower())),
            }
        )
    return pd.DataFrame(rows, columns=CAPTION_CHAIR_COLUMNS)


def chair_findings(table: pd.DataFrame) -> list[str]:
    """Sentences computed from a :func:`chair_table`: per setting, the method with the lowest CHAIR_s and how each
    contrastive method moves CHAIR_s and recall against naive decoding."""
    out = []
    for setting, rows in table.groupby("setting", sort=False):
        rows = rows.set_index("method")
        if NAIVE not in rows.index:
            continue
        naive = rows.loc[NAIVE]
        best = rows["chair_s"].idxmin()
        out.append(
            f"{setting} decoding ({naive['config']}): lowest CHAIR_s with {best} "
            f"({100 * rows.loc[best, 'chair_s']:.1f} % of captions hallucinate, naive {100 * naive['chair_s']:.1f} %)."
        )
        moves = [
            f"{m} {100 * (rows.loc[m, 'chair_s'] - naive['chair_s']):+.1f} CHAIR_s / "
            f"{100 * (rows.loc[m, 'recall'] - naive['recall']):+.1f} recall"
            for m in rows.index
            if m != NAIVE
        ]
        if moves:
            out.append(f"{setting}, points against naive: " + "; ".join(moves) + ".")
    return out


def marked_captions(
    captions: pd.DataFrame, vocabulary: Mapping[str, Sequence[str]], setting: str, n: int
) -> list[dict]:
    """The first ``n`` images' captions under every method at ``setting``, side by side: per image its ``image``,
    ground-truth ``objects`` and, per method, the caption as (text, mark) segments (``metrics.chair``)."""
    table = synonym_table(vocabulary)
    rows = captions[captions["setting"] == setting]
    methods = [m for m in DECODING_METHODS if m in set(rows["method"])]
    out = []
    for qid in list(dict.fromkeys(rows["question_id"]))[:n]:
        same = rows[rows["question_id"] == qid].set_index("method")
        truth = objects_of(same["objects"].iloc[0])
        cells = {}
        for m in methods:
            text = same.loc[m, "caption"] if isinstance(same.loc[m, "caption"], str) else ""
            cells[m] = caption_segments(text, find_mentions(text, table, truth))
        out.append({"image": same["image"].iloc[0], "objects": truth, "captions": cells})
    return out


def unclear_share(answers: pd.Series, predictions: pd.Series, labels: Sequence[str]) -> float:
    """Share of answers that name no label: for yes/no benchmarks, answers without the word "yes" or "no" (the
    parser still maps them to a label, as the paper's parsers do); otherwise answers parsed as "other"."""
    if sorted(labels) == ["no", "yes"]:
        named = [bool({"yes", "no"} & set(WORD.findall(str(a).lower()))) for a in answers.fillna("")]
        return float(1 - sum(named) / len(named)) if named else 0.0
    return float((~predictions.isin(labels)).mean())


def contrastive_table(answers: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per benchmark, split, setting and method, from the generated answers of each "benchmark/split"
    (``ANSWER_COLUMNS``): the parser that read the answers, the benchmark's metrics (``benchmarks.metrics``) and the
    share of unclear answers (:func:`unclear_share`)."""
    rows = []
    for key, table in answers.items():
        name, split = key.split("/")
        benchmark(name)
        for (setting, method), group in table.groupby(["setting", "method"], sort=False):
            scores = metrics(name, group)
            rows.append(
                {
                    "benchmark": name,
                    "split": split,
                    "setting": setting,
                    "config": group["config"].iloc[0],
                    "method": method,
                    "parser": ", ".join(dict.fromkeys(group["parser"])),
                    **scores,
                    "unclear": unclear_share(group["answer"], group["prediction"], list(benchmark(name).labels)),
                    "questions": len(group),
                }
            )
    return ordered(pd.DataFrame(rows), ["benchmark", "split"]).reset_index(drop=True)


def contrastive_findings(table: pd.DataFrame) -> list[str]:
    """Per benchmark and setting (splits averaged): the best method on the headline metric and its gain over
    naive decoding."""
    out = []
    for (name, setting), rows in table.groupby(["benchmark", "setting"], sort=False):
        metric = benchmark(name).headline
        mean = rows.groupby("method", sort=False)[metric].mean()
        if NAIVE not in mean.index:
            continue
        best = mean.idxmax()
        scale, unit = (1, " points") if metric == "score" else (100, " %")
        out.append(
            f"{name.upper()}, {setting} decoding ({rows['config'].iloc[0]}): best {metric} with {best} "
            f"({scale * mean[best]:.1f}{unit}; naive {scale * mean[NAIVE]:.1f}{unit}, "
            f"{scale * (mean[best] - mean[NAIVE]):+.1f})."
        )
    return out
