"""Attention to system, image, question and generated tokens (the paper's Fig. 2): the findings read from the
attention tables (the token groups and their shares are computed in ``scoring.groups``).

Token groups of a prompt (left-padded rows; padding belongs to no group):

- **system**: the prompt's tokens before the image (BOS, "USER:", a system prompt);
- **image**: the positions the processor filled with its image token (``input_ids == image_token_id``), as many as the
  vision tower gives features (576 for LLaVA-1.5, 65 for the embedded model): never a hard-coded count;
- **question**: the rest of the prompt after the image (the question, "ASSISTANT:"), the answer position included;
- **generated**: in generation, the tokens generated so far (the newly generated one included).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lvlm_debias.scoring.groups import GROUPS


def shares_wide(table: pd.DataFrame) -> pd.DataFrame:
    """The per-layer table with one column per group's share and the groups' mean token counts (``n_<group>``)."""
    shares = table.pivot_table(index=["probe", "layer"], columns="group", values="share", sort=False)
    counts = table.pivot_table(index=["probe", "layer"], columns="group", values="tokens", sort=False)
    groups = [g for g in GROUPS if g in shares.columns]
    wide = shares[groups].join(counts[groups].add_prefix("n_"))
    wide.columns.name = None
    probes = list(dict.fromkeys(table["probe"]))
    wide = wide.reset_index()
    return wide.sort_values(["probe", "layer"], key=lambda c: c.map(probes.index) if c.name == "probe" else c)


def _text_and_image(table: pd.DataFrame, probe: str, layer: int) -> tuple[float, float, float, float]:
    rows = table[(table["probe"] == probe) & (table["layer"] == layer)].set_index("group")
    text = float(rows.loc[[g for g in rows.index if g != "image"], "share"].sum())
    return text, float(rows.loc["image", "share"]), float(rows.loc["image", "tokens"]), float(rows["tokens"].sum())


def text_dominance(table: pd.DataFrame, probe: str = "naive") -> tuple[str, bool] | None:
    """In the last layer for ``probe``: the text (system + question) and image shares in words, and whether text
    takes most of the attention (> 50 %); None when the table has no such rows."""
    rows = table[table["probe"] == probe]
    if rows.empty or "image" not in set(rows["group"]):
        return None
    last = int(rows["layer"].max())
    text, image, n_image, n_all = _text_and_image(table, probe, last)
    words = (
        f"{probe}, last layer ({last}): text (system + question) {100 * text:.1f} %, image {100 * image:.1f} % of the "
        f"answer position's attention; image tokens are {n_image:.0f} of {n_all:.0f} prompt tokens"
    )
    return words, text > 0.5


def _move(first: float, last: float, start: str, end: str) -> str:
    """How a share moves from ``start`` to ``end``, read at the one decimal (in %) the findings show."""
    a, b = round(100 * first, 1), round(100 * last, 1)
    if a == b:
        return f"stays at {a:.1f} % ({start} and {end})"
    return f"{'falls' if b < a else 'rises'} from {a:.1f} % {start} to {b:.1f} % {end}"


def image_by_layer(table: pd.DataFrame, probe: str = "naive") -> pd.DataFrame:
    """The image group's rows of ``probe`` in layer order (empty when the probe has no image tokens)."""
    rows = table[(table["probe"] == probe) & (table["group"] == "image")].sort_values("layer")
    return rows[rows["tokens"] > 0]


def depth_trend(table: pd.DataFrame, probe: str = "naive") -> tuple[str, bool] | None:
    """The image share of ``probe`` from the first to the last layer in words, and whether it falls with depth;
    None with fewer than two layers or no image tokens."""
    rows = image_by_layer(table, probe)
    if len(rows) < 2:
        return None
    first, last = rows.iloc[0], rows.iloc[-1]
    moves = _move(first["share"], last["share"], f"in layer {first['layer']}", f"in layer {last['layer']}")
    return f"{probe}: the image share {moves}", bool(last["share"] < first["share"])


def generation_trend(generation: pd.DataFrame) -> tuple[str, float] | None:
    """The image share's least-squares trend per generated token, in words, and the slope; None with fewer than two
    steps.

    Each step's mean share m_t is weighted by its samples n_t (the samples still generating), which is the pooled
    least-squares line over every (sample, step) observation (``report.checks.pooled_slope``):

        slope = sum_t n_t (t - t_bar)(m_t - m_bar) / sum_t n_t (t - t_bar)^2,  t_bar, m_bar weighted by n_t

    The words say "falls" or "rises" by the slope, the quantity the paper's claim is checked on; the first and last
    steps' shares are given as they are (the last step may hold a few samples and read either way).
    """
    image = generation[generation["group"] == "image"].sort_values("step")
    if len(image) < 2:
        return None
    t, m = image["step"].to_numpy(float), image["share"].to_numpy(float)
    n = image["n_samples"].to_numpy(float)
    t_bar, m_bar = np.average(t, weights=n), np.average(m, weights=n)
    spread = float((n * (t - t_bar) ** 2).sum())
    slope = float((n * (t - t_bar) * (m - m_bar)).sum()) / spread if spread > 0 else 0.0
    first, last = image.iloc[0], image.iloc[-1]
    points = round(100 * slope, 2)
    moves = "stays flat" if points == 0 else f"{'falls' if points < 0 else 'rises'} by {abs(points):.2f} points"
    words = (
        f"describing the image, the image share (mean over layers and heads) {moves} per generated token "
        f"(least-squares trend over steps {first['step']}-{last['step']}, each step weighted by its samples): "
        f"{100 * first['share']:.1f} % at step {first['step']} (the answer position, {first['n_samples']} samples), "
        f"{100 * last['share']:.1f} % at step {last['step']} ({last['n_samples']} samples still generating)"
    )
    return words, slope


def attention_findings(table: pd.DataFrame, generation: pd.DataFrame | None = None) -> list[str]:
    """Sentences computed from the per-layer table (and the generation table): for each probe with image tokens, the
    last layer's split between text and image and the image share from the first to the last layer; the image share
    from the answer position (step 0) to the last generation step, with its least-squares trend."""
    out = []
    for probe in dict.fromkeys(table["probe"]):
        dominance = text_dominance(table, probe)
        if dominance is None or image_by_layer(table, probe).empty:
            continue
        out.append(dominance[0] + ".")
        depth = depth_trend(table, probe)
        if depth is not None:
            out.append(depth[0] + ".")
    if generation is not None and not generation.empty:
        trend = generation_trend(generation)
        if trend is None:
            share = generation.loc[generation["group"] == "image", "share"].iloc[0]
            out.append(
                f"Describing the image, every sample stopped after its first token: image share "
                f"{100 * share:.1f} % at the answer position, no trend to read."
            )
        else:
            out.append(trend[0][0].upper() + trend[0][1:] + ".")
    return out
