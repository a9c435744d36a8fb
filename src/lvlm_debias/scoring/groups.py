"""Attention to system, image, question and generated tokens (the paper's Fig. 2): pure functions on token ids and
attention weights: the token groups and their attention shares.

Token groups of a prompt (left-padded rows; padding belongs to no group):

- **system**: the prompt's tokens before the image (BOS, "USER:", a system prompt);
- **image**: the positions the processor filled with its image token (``input_ids == image_token_id``), as many as the
  vision tower gives features (576 for LLaVA-1.5, 65 for the embedded model): never a hard-coded count;
- **question**: the rest of the prompt after the image (the question, "ASSISTANT:"), the answer position included;
- **generated**: in generation, the tokens generated so far (the newly generated one included).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:  # torch is imported where used: GROUPS is read by jobs that load no model
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
    import torch

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
    import torch

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
    import torch

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


def top_tokens(shares: pd.DataFrame, n_rows: int, top: int) -> pd.DataFrame:
    """The ``top`` (group, token) entries of ``token_shares`` by mean attention over the ``n_rows`` rows (a row
    without the token counts 0): columns ``rank`` (1 = most attended), ``group``, ``token``, ``share``, ``rows``
    (how many rows hold the token)."""
    grouped = shares.groupby(["group", "token"], sort=False)["share"]
    table = pd.DataFrame({"share": grouped.sum() / n_rows, "rows": grouped.size()}).reset_index()
    table = table.sort_values(["share", "group", "token"], ascending=[False, True, True], kind="stable").head(top)
    table.insert(0, "rank", range(1, len(table) + 1))
    return table.reset_index(drop=True)
