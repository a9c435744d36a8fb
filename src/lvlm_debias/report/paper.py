"""The paper's reported findings and published numbers (``config/paper_numbers.yaml``) beside this run's.

Three kinds of entry:

- **claims**: a finding of the paper in words, with where it is stated. Each claim id has a check
  (``report.checks.CHECKS``) that computes one stated quantity on this run's per-question outputs, its paired
  bootstrap 95 % interval over questions, and the verdict: yes, no, or inconclusive where the interval spans no
  effect. This is the comparison for any model, the embedded one included.
- **published**: values printed elsewhere (the paper's own tables are not reachable where this was written): LLaVA's own
  POPE evaluation, the VCD paper's Table 1, a third-party rerun of the official pipeline. Each says whose it is and
  where it was printed, and names the row of this run's table it stands beside; shown with the delta for a model
  entry whose ``paper_name`` matches.
- **regime**: which of those describe what a LLaVA-like model does, shown beside a model with no published numbers of
  its own (the embedded one), as the regime it should be in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass
from pathlib import Path

import pandas as pd
import yaml

from lvlm_debias.benchmarks import of_family
from lvlm_debias.report.checks import CHECKS, Bootstrap, Verdict

__all__ = ["CHECKS", "Bootstrap", "Verdict", "claim_rows", "load_paper_numbers", "number_rows", "regime_rows"]


@dataclass(frozen=True)
class Claim:
    """A finding of the paper: ``id`` (one of ``CHECKS``), where it is stated, the claim, the paper's figure if any,
    and a ``short`` name for the report's summary (the claim itself where none is given)."""

    id: str
    source: str
    claim: str
    paper: str = ""
    short: str = ""


#: the metrics a published number may give (in %, as printed, except MME scores in points)
PUBLISHED_METRICS = ("accuracy", "precision", "recall", "f1", "yes_ratio", "acc_plus", "score")
#: metrics this run's tables hold as fractions (shown in %)
RATES = ("accuracy", "precision", "recall", "f1", "yes_ratio", "acc_plus")
#: the tables of this run a published number can stand beside: table -> the output holding it (a key of
#: ``lvlm_debias.outputs.OUTPUTS``) and the columns that select its row there
BESIDE = {
    "calibration": ("{benchmark}/calibration", ("split", "method")),
    "readings": ("{benchmark}/readings", ("split", "method", "reading")),
    "contrastive": ("contrastive", ("split", "setting", "method")),
}


@dataclass(frozen=True)
class PublishedNumber:
    """One published value, in the unit it was printed in (% for rates, points for MME scores), with ``std`` where
    printed: ``whose`` it is (a label: "VCD paper, Table 1", "LLaVA's own POPE evaluation", ...), where it was
    printed (``source``), and the row of this run's ``table`` (``BESIDE``) it stands beside: ``benchmark`` (a config
    name), ``split``, ``method`` and, for the readings table, ``reading``; for the contrastive table, ``setting``."""

    whose: str
    source: str
    model: str
    benchmark: str
    split: str
    method: str
    metric: str
    value: float
    std: float | None = None
    table: str = "calibration"
    reading: str = "clean"
    setting: str = "default"
    note: str = ""


@dataclass(frozen=True)
class Regime:
    """The published numbers that show what a LLaVA-like model does (``whose``, ``model``, ``benchmark``): shown
    beside the naive POPE metrics of a model that has no published numbers of its own, such as the embedded one."""

    whose: str
    model: str
    benchmark: str


def _read(outputs: Mapping[str, Path], key: str) -> pd.DataFrame | None:
    """The table at ``outputs[key]``; a key "pope/<table>" stands for the first POPE-family benchmark's (POPE on
    ShapesWorld, ``pope_coco``, ...)."""
    if key.startswith("pope/"):
        key = next((k for k in outputs if k.split("/", 1)[-1] == key[5:] and of_family(k.split("/")[0], "pope")), key)
    return pd.read_csv(outputs[key]) if key in outputs else None


def load_paper_numbers(path: str | Path) -> tuple[list[Claim], list[PublishedNumber], Regime | None]:
    """Claims, published numbers and the regime from ``path``; an unknown claim id, table or metric, or a missing
    or unknown field, fails naming the entry.

    Each ``published`` entry gives ``whose``, ``source``, ``model``, ``benchmark``, ``beside`` (``table`` and the
    row's ``method`` / ``reading`` / ``setting``), an optional ``note``, and ``rows``: per split (``split``, and
    optionally its own ``method``) the metrics, each a number or ``[value, std]``.
    """
    path = Path(path)
    data = yaml.safe_load(path.read_text()) or {}
    unknown = sorted(set(data) - {"claims", "published", "regime"})
    if unknown:
        raise ValueError(f"{path}: unknown top-level keys {unknown}; allowed: ['claims', 'published', 'regime']")
    claims = [_entry(Claim, item, path, f"claims[{i}]") for i, item in enumerate(data.get("claims") or [])]
    for i, claim in enumerate(claims):
        if claim.id not in CHECKS:
            raise ValueError(f"{path}: claims[{i}] has unknown id {claim.id!r}; known ids: {sorted(CHECKS)}")
    numbers = [n for i, item in enumerate(data.get("published") or []) for n in _published(item, path, i)]
    regime = _entry(Regime, data["regime"], path, "regime") if data.get("regime") else None
    return claims, numbers, regime


def _published(item: object, path: Path, i: int) -> list[PublishedNumber]:
    """The numbers of one ``published`` entry, one per split and metric."""
    where = f"published[{i}]"
    fields = {"whose", "source", "model", "benchmark", "beside", "rows", "note"}
    if not isinstance(item, Mapping) or not {"whose", "source", "model", "benchmark", "beside", "rows"} <= set(item):
        raise ValueError(f"{path}: {where} needs whose, source, model, benchmark, beside and rows; got {item!r}")
    if set(item) - fields:
        raise ValueError(f"{path}: {where} has unknown keys {sorted(set(item) - fields)}; allowed: {sorted(fields)}")
    beside = dict(item["beside"])
    table = beside.pop("table", "calibration")
    if table not in BESIDE:
        raise ValueError(f"{path}: {where}.beside.table {table!r} is not one of {list(BESIDE)}")
    common = {k: str(item[k]) for k in ("whose", "source", "model", "benchmark")} | {"note": str(item.get("note", ""))}
    out = []
    for j, row in enumerate(item["rows"]):
        row = dict(row)
        selected = {**beside, **{k: row.pop(k) for k in ("split", "method", "reading", "setting") if k in row}}
        bad = sorted(set(row) - set(PUBLISHED_METRICS))
        if bad or "split" not in selected or "method" not in selected:
            raise ValueError(
                f"{path}: {where}.rows[{j}] needs split and method and names metrics of {list(PUBLISHED_METRICS)}; "
                f"unknown: {bad}"
            )
        for metric, value in row.items():
            mean, std = value if isinstance(value, list) and len(value) == 2 else (value, None)
            try:
                number = PublishedNumber(
                    **common,
                    **{k: str(v) for k, v in selected.items()},
                    metric=metric,
                    value=float(mean),
                    std=None if std is None else float(std),
                    table=table,
                )
            except (TypeError, ValueError) as err:
                raise ValueError(f"{path}: {where}.rows[{j}].{metric}: {err}") from err
            out.append(number)
    return out


def _entry(kind: type, item: object, path: Path, where: str):
    if not isinstance(item, Mapping):
        raise ValueError(f"{path}: {where} must be a mapping, got {item!r}")
    fields = kind.__dataclass_fields__
    required = [n for n, f in fields.items() if f.default is MISSING]
    missing = [n for n in required if n not in item]
    extra = sorted(set(item) - set(fields))
    if missing or extra:
        raise ValueError(f"{path}: {where} misses {missing} / has unknown {extra}; fields: {list(fields)}")
    return kind(**{k: str(v) for k, v in item.items()})


#: the columns of a claim row (``claim_rows``)
CLAIM_COLUMNS = ["id", "block", "claim", "source", "paper", "quantity", "estimate", "interval", "this run", "verdict"]


def claim_rows(
    claims: Sequence[Claim],
    outputs: Mapping[str, Path],
    block: str | None = None,
    *,
    bootstrap: Bootstrap,
) -> list[dict]:
    """One row per claim (of ``block``, or all; ``CLAIM_COLUMNS``): its short name, source and the paper's finding;
    this run's quantity, estimate and 95 % ``interval`` (paired bootstrap, ``bootstrap``), "this run" in words (the
    three together, with the numbers beside them), and the verdict (yes / no / inconclusive). Claims whose inputs
    this run did not produce are left out."""
    rows = []
    for claim in claims:
        where, check = CHECKS[claim.id]
        if block is not None and where != block:
            continue
        found = check(outputs, bootstrap)
        if found is None:
            continue
        rows.append(
            {
                "id": claim.id,
                "block": where,
                "claim": claim.short or claim.claim,
                "source": claim.source,
                "paper": claim.claim + (f" ({claim.paper})" if claim.paper else ""),
                "quantity": found.quantity,
                "estimate": found.estimate,
                "interval": found.range,
                "this run": found.ours,
                "verdict": found.verdict,
            }
        )
    return rows


def _ours(number: PublishedNumber, outputs: Mapping[str, Path]) -> float | None:
    """This run's value for a published number (in its unit), or None when this run has no such row."""
    output, columns = BESIDE[number.table]
    key = output.format(benchmark=number.benchmark)
    if key not in outputs or not Path(outputs[key]).is_file():
        return None
    table = pd.read_csv(outputs[key])
    if number.table == "contrastive":
        table = table[table["benchmark"] == number.benchmark]
    if number.metric not in table.columns:
        return None
    for column in columns:
        table = table[table[column].astype(str) == getattr(number, column)]
    if table.empty:
        return None
    value = float(table[number.metric].iloc[0])
    return 100 * value if number.metric in RATES else value


COLUMNS = ["whose", "benchmark", "split", "method", "metric", "this run", "published", "std", "delta", "source"]


def number_rows(
    numbers: Sequence[PublishedNumber], paper_name: str | None, outputs: Mapping[str, Path]
) -> pd.DataFrame:
    """The published numbers for the model ``paper_name`` beside this run's values (% for rates), with the delta
    (this run - published) and the published ``std`` where printed. Empty when the model has no paper name or this
    run computed none of those rows. The method column reads "<method> (<reading or setting>)" where either
    selects the row."""
    rows = []
    for number in numbers:
        if paper_name is None or number.model != paper_name:
            continue
        ours = _ours(number, outputs)
        if ours is None:
            continue
        method = number.method
        if number.table == "readings":
            method += f" ({number.reading} reading)"
        elif number.table == "contrastive":
            method += f" (generation, {number.setting} setting)"
        rows.append(
            {
                "whose": number.whose,
                "benchmark": number.benchmark,
                "split": number.split,
                "method": method,
                "metric": number.metric,
                "this run": ours,
                "published": number.value,
                "std": number.std,
                "delta": ours - number.value,
                "source": number.source + (f" ({number.note})" if number.note else ""),
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def regime_rows(numbers: Sequence[PublishedNumber], regime: Regime | None, outputs: Mapping[str, Path]) -> pd.DataFrame:
    """A model's naive POPE metrics (its first POPE-family benchmark, clean reading, % per split) beside the
    regime's published numbers for the same split: what a LLaVA-like model does. Empty without a regime or POPE."""
    if regime is None:
        return pd.DataFrame(columns=["split", "metric", "this model", "published"])
    table = _read(outputs, "pope/calibration")
    published = [
        n for n in numbers if (n.whose, n.model, n.benchmark) == (regime.whose, regime.model, regime.benchmark)
    ]
    rows = []
    if table is not None:
        naive = table[table["method"] == "naive"].set_index("split")
        for number in published:
            if number.method != "naive" or number.split not in naive.index or number.metric not in naive.columns:
                continue
            ours = float(naive.loc[number.split, number.metric]) * (100 if number.metric in RATES else 1)
            rows.append(
                {"split": number.split, "metric": number.metric, "this model": ours, regime.model: number.value}
            )
    return pd.DataFrame(rows, columns=["split", "metric", "this model", regime.model])
