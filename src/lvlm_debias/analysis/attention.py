"""Attention to system, image, question and generated tokens (the paper's Fig. 2): pure functions on token ids and
attention weights, and the findings read from the resulting tables.

Token groups of a prompt (left-padded rows; padding belongs to no group):

- **system**: the prompt's tokens before the image (BOS, "USER:", a system prompt);
- **image**: the positions the processor filled with its image token (``input_ids == image_token_id``), as many as the
  vision tower gives features (576 for LLaVA-1.5, 65 for the embedded model): never a hard-coded count;
- **question**: the rest of the prompt after the image (the question, "ASSISTANT:"), the answer position included;
- **generated**: in generation, the tokens generated so far (the newly generated one included).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

GROUPS = ("system", "image", "question", "generated")
#: the groups of a prompt's tokens (no generated tokens yet).
PROMPT_GROUPS = GROUPS[:3]
#: the name shown for the image tokens taken together in the top-token table.
IMAGE_ENTRY = "<image> (all image tokens)"


def group_masks(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    image_token_id: int,
    n_system: Sequence[int] | None = None,
) -> dict[str, torch.Tensor]:
    """Boolean masks (N, L) of each group in ``GROUPS`` over the key positions of left-padded prompt rows.

    image = real & (id == image_token_id); system = real, non-image tokens before a row's first image token;
    question = the row's other real, non-image tokens; generated = none. A row without image tokens (the None probe)
    takes its first ``n_system[row]`` real tokens as system (where the image was); such a row without ``n_system``
    is an error. Padding (``attention_mask == 0``) is in no group.
    """
    real = attention_mask.bool()
    image = real & (input_ids == image_token_id)
    index = real.long().cumsum(-1) - 1  # position among the row's real tokens (left padding: -1)
    has_image = image.any(-1)
    first_image = torch.where(image, index, torch.full_like(index, input_ids.shape[1])).min(-1).values
    if not bool(has_image.all()):
        if n_system is None:
            rows = (~has_image).nonzero().flatten().tolist()
            raise ValueError(f"rows {rows} have no image token {image_token_id}: pass n_system (system tokens per row)")
        if len(n_system) != len(input_ids):
            raise ValueError(f"n_system has {len(n_system)} entries for {len(input_ids)} rows")
        first_image = torch.where(has_image, first_image, torch.as_tensor(list(n_system), dtype=first_image.dtype))
    system = real & ~image & (index < first_image[:, None])
    question = real & ~image & ~system
    return {"system": system, "image": image, "question": question, "generated": torch.zeros_like(real)}


def with_generated(masks: Mapping[str, torch.Tensor], n_new: int) -> dict[str, torch.Tensor]:
    """``masks`` over the prompt extended by ``n_new`` generated key positions (appended on the right, as generation
    appends them): those are in the generated group only."""
    out = {}
    for group in GROUPS:
        mask = masks[group]
        extra = torch.full((mask.shape[0], n_new), group == "generated", dtype=torch.bool, device=mask.device)
        out[group] = torch.cat([mask, extra], dim=1)
    return out


def group_shares(attention: torch.Tensor, masks: Mapping[str, torch.Tensor], groups=GROUPS) -> torch.Tensor:
    """Share of one query position's attention on each group: (layers, N, len(groups)).

    ``attention`` (layers, N, heads, K) holds, per layer, row and head, the query's attention weights over the K key
    positions; ``masks[g]`` (N, K) the keys of group g. With R(n) the union of all groups' keys of row n (padding is
    in no group):

        share[l, n, g] = mean_h  sum_{k in g(n)} A[l, n, h, k]  /  sum_{k in R(n)} A[l, n, h, k]

    The denominator is 1 up to rounding when padding gets no weight (the model masks it); it makes the shares of
    ``GROUPS`` sum to 1 exactly for every layer and row.
    """
    attention = attention.float()
    real = torch.zeros_like(masks[GROUPS[0]])
    for group in GROUPS:
        real = real | masks[group]
    total = (attention * real[None, :, None, :]).sum(-1)  # (layers, N, heads)
    out = [((attention * masks[g][None, :, None, :]).sum(-1) / total).mean(-1) for g in groups]
    return torch.stack(out, dim=-1)


def token_shares(
    weights: torch.Tensor, tokens: Sequence[Sequence[str]], masks: Mapping[str, torch.Tensor]
) -> pd.DataFrame:
    """Per row, the attention on each distinct (group, token string) among its keys: columns ``row``, ``group``,
    ``token``, ``share``. ``weights`` (N, K) is one query's attention (e.g. averaged over layers and heads),
    ``tokens[n][k]`` the decoded token at key k. The image tokens are taken together as one entry ``IMAGE_ENTRY``;
    repeated tokens of a group are summed; padding is left out."""
    rows = []
    for n, row_tokens in enumerate(tokens):
        sums: dict[tuple[str, str], float] = {}
        for group in GROUPS:
            for k in masks[group][n].nonzero().flatten().tolist():
                key = (group, IMAGE_ENTRY if group == "image" else row_tokens[k])
                sums[key] = sums.get(key, 0.0) + float(weights[n, k])
        rows += [{"row": n, "group": g, "token": t, "share": s} for (g, t), s in sums.items()]
    return pd.DataFrame(rows, columns=["row", "group", "token", "share"])


def top_tokens(shares: pd.DataFrame, n_rows: int, top: int = 10) -> pd.DataFrame:
    """The ``top`` (group, token) entries of ``token_shares`` by mean attention over the ``n_rows`` rows (a row
    without the token counts 0): columns ``rank`` (1 = most attended), ``group``, ``token``, ``share``, ``rows``
    (how many rows hold the token)."""
    grouped = shares.groupby(["group", "token"], sort=False)["share"]
    table = pd.DataFrame({"share": grouped.sum() / n_rows, "rows": grouped.size()}).reset_index()
    table = table.sort_values(["share", "group", "token"], ascending=[False, True, True], kind="stable").head(top)
    table.insert(0, "rank", range(1, len(table) + 1))
    return table.reset_index(drop=True)


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
