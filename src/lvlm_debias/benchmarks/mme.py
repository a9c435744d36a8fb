"""MME (Fu et al., 2023): two yes/no questions per image and subtask, one answered "yes" and one "no"; per subtask
acc, acc+ (both of an image's questions right) and the score ``100·acc + 100·acc+``, summed into the perception and
cognition totals of the questions' source (:func:`mme_groups`).

Its hub format ``mme`` (``lmms-lab/MME``, ``data/test-*.parquet``) has the columns ``question_id``
(``<subtask>/<file>``), ``image``, ``question``, ``answer`` (Yes/No), ``category`` (the subtask); 2374 questions, two
per image and subtask.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from lvlm_debias.benchmarks.base import Benchmark, accuracy
from lvlm_debias.data.convert import Converter, image_bytes, yes_no_label
from lvlm_debias.metrics.mme import OFFICIAL_GROUPS, mme_scores, mme_totals
from lvlm_debias.scoring.convention import Convention
from lvlm_debias.scoring.labels import YES_NO
from lvlm_debias.world.tasks import MME_GROUPS, build_mme

#: The perception / cognition groups of each source of MME questions. The groups follow the data, not the benchmark's
#: name: ``mme`` is ShapesWorld's MME in the embedded config and lmms-lab/MME in the paper config. The questions carry
#: their source in their subtask names, which differ between sources (lmms-lab/MME's ``category``: "color", "OCR",
#: "code_reasoning", ...; ShapesWorld's: "colour", "shape_facts"), so :func:`mme_groups` picks the source whose
#: groups hold every subtask present. The names both share (existence, count, position) are perception in both, so
#: a run with only those gets the same totals from either.
MME_SOURCES: dict[str, Mapping[str, Sequence[str]]] = {
    "lmms-lab/MME": OFFICIAL_GROUPS,
    "shapes_world": MME_GROUPS,
}


def mme_groups(subtasks: Iterable[str]) -> tuple[str, dict[str, list[str]]]:
    """(source, groups) for the MME ``subtasks`` present: the first source of :data:`MME_SOURCES` whose groups hold
    every one of them, each group cut to the subtasks present (a group with none left stays, empty: total 0).

    Raises ``ValueError`` naming the subtasks that no group of any source holds: a subtask is never left out of the
    totals silently.
    """
    present = list(dict.fromkeys(subtasks))
    missing = {}
    for source, groups in MME_SOURCES.items():
        grouped = {s for subs in groups.values() for s in subs}
        missing[source] = [s for s in present if s not in grouped]
        if not missing[source]:
            return source, {g: [s for s in subs if s in present] for g, subs in groups.items()}
    closest = min(missing, key=lambda source: len(missing[source]))
    raise ValueError(
        f"MME subtasks {missing[closest]} are in no perception/cognition group (closest source {closest!r}, groups "
        f"{ {g: list(subs) for g, subs in MME_SOURCES[closest].items()} }): check the question file's subtask names, "
        "or add them to a group of lvlm_debias.benchmarks.MME_SOURCES"
    )


def mme_subsets(answers: pd.DataFrame) -> pd.DataFrame:
    """MME's per-subtask acc, acc+ and score of one method's answers (columns ``subset``, ``pair``, ``label``,
    ``prediction``)."""
    if "pair" not in answers.columns:
        raise ValueError(
            "MME answers need a `pair` column (the image id acc+ pairs an image's questions by; never the image file, "
            f"which two MME image ids can share); got columns {list(answers.columns)}"
        )
    return mme_scores(answers.rename(columns={"subset": "subtask"})[["subtask", "pair", "label", "prediction"]])


def build(annotations: list[dict], split: str, settings: Mapping, seed: int) -> list[dict]:
    """ShapesWorld's MME questions (``benchmarks.mme``: ``n_images``, ``subtasks``)."""
    return build_mme(annotations, seed, settings.get("n_images"), tuple(settings["subtasks"]))


def metrics(answers: pd.DataFrame) -> dict[str, float]:
    """Accuracy, acc+ and the summed MME score, with the perception and cognition totals of the questions' source
    (:func:`mme_groups`); ``answers`` need a ``pair`` column (:func:`mme_subsets`)."""
    out = {"accuracy": accuracy(list(answers["label"]), list(answers["prediction"]))}
    scores = mme_subsets(answers)
    _, groups = mme_groups(scores["subtask"])
    totals = mme_totals(scores, groups)
    out |= {"acc_plus": float(scores["acc_plus"].mean()), "score": float(scores["score"].sum())}
    out.update({f"{row.group}_score": float(row.score) for row in totals.itertuples()})
    return out


def expected(label_dist: np.ndarray, gold: np.ndarray, answers: pd.DataFrame) -> dict[str, float]:
    """Expected acc+ and score: a pair's expected acc+ is the product of its questions' chances of being right (one
    draw per question; ``answers`` align with ``label_dist``, columns ``subset`` and ``pair``)."""
    right = pd.DataFrame(
        {
            "subset": answers["subset"].to_numpy(),
            "pair": answers["pair"].to_numpy(),
            "p": label_dist[np.arange(len(gold)), gold],
        }
    )
    acc = right.groupby("subset", sort=False)["p"].mean()
    acc_plus = right.groupby(["subset", "pair"], sort=False)["p"].prod().groupby(level=0, sort=False).mean()
    return {"acc_plus": float(acc_plus.mean()), "score": float((100 * (acc + acc_plus)).sum())}


def records(rows: pd.DataFrame, split: str) -> tuple[list[dict], dict]:
    """MME rows -> records: ``subtask`` the category, ``label`` yes/no, ``pair`` grouping an image's two questions by
    its ``question_id`` (the image id, e.g. ``code_reasoning/0020.png``), which acc+ pairs them by: two image ids may
    hold identical bytes, so share one stored file."""
    out = []
    for row in rows.itertuples(index=False):
        out.append(
            {
                "source_id": f"{row.question_id}/{yes_no_label(row.answer)}",
                "image": image_bytes(row.image),
                "text": str(row.question).strip(),
                "label": yes_no_label(row.answer),
                "subtask": str(row.category),
                "pair": f"{row.question_id}:{row.category}",
            }
        )
    return out, {}


MME = Benchmark(
    name="mme",
    splits=("all",),
    labels=YES_NO,
    subset="subtask",
    headline="score",
    shown=("score", "accuracy", "acc_plus"),
    build=build,
    metrics=metrics,
    expected=expected,
    official=Convention(read_top=10, normalise_single=False),  # convert_answer_to_mme_calibrate.py
    converter=Converter("mme", records, subset="subtask", splits=("all",)),
    layout=("score", "perception_score", "cognition_score"),  # the paper's Table 2, in points
    layout_percent=False,
)
