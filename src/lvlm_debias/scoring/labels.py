"""Label probabilities read from a next-token distribution, as the paper's code reads them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # YES_NO and the token helpers are read by jobs that load no model
    import torch

#: POPE and MME labels, each with its words (case and leading-space variants are merged when reading).
YES_NO: dict[str, list[str]] = {"yes": ["yes"], "no": ["no"]}

#: word-boundary markers of SentencePiece and byte-level BPE vocabularies.
_BOUNDARY_MARKS = ("\u2581", "\u0120")


def display_token(token: str) -> str:
    """A vocabulary entry as it reads: boundary marks removed, case kept (the token itself when nothing is left)."""
    shown = token
    for mark in _BOUNDARY_MARKS:
        shown = shown.replace(mark, " ")
    return shown.strip() or token


def normalise_token(token: str) -> str:
    """A vocabulary entry as a bare lower-case word: boundary marks and surrounding space removed."""
    for mark in _BOUNDARY_MARKS:
        token = token.replace(mark, " ")
    return token.strip().lower()


def label_of_token(tokens: Sequence[str], labels: Mapping[str, Sequence[str]]) -> torch.Tensor:
    """For each vocabulary entry, the index of the label whose word it spells (case and leading space merged), or -1.

    ``labels`` maps each label to its words, e.g. ``{"yes": ["yes"], "no": ["no"]}``; label order is kept.
    """
    import torch

    index = {}
    for k, words in enumerate(labels.values()):
        for word in words:
            index[word.strip().lower()] = k
    return torch.tensor([index.get(normalise_token(t), -1) for t in tokens], dtype=torch.long)


def label_probs(logits: torch.Tensor, token_labels: torch.Tensor, n_labels: int, top_k: int) -> torch.Tensor:
    """Raw label probabilities from next-token logits of shape (N, V).

    ``p_y = sum over t in top_k(softmax(logits)) with label(t) = y of softmax(logits)_t``; not normalised over the
    labels, so the returned rows sum to the label mass found in the top ``top_k`` tokens. Ids past the end of
    ``token_labels`` (a model's padding rows beyond its tokenizer, e.g. LLaVA-1.5's 32002-32063) spell no label.
    """
    import torch

    probs = torch.softmax(logits.float(), dim=-1)
    missing = probs.shape[-1] - token_labels.numel()
    if missing > 0:
        token_labels = torch.cat([token_labels, torch.full((missing,), -1, dtype=token_labels.dtype)])
    top_p, top_ids = probs.topk(min(top_k, probs.shape[-1]), dim=-1)
    top_labels = token_labels.to(top_ids.device)[top_ids]
    out = torch.zeros(probs.shape[0], n_labels + 1, dtype=probs.dtype, device=probs.device)
    out.scatter_add_(1, torch.where(top_labels < 0, n_labels, top_labels), top_p)
    return out[:, :n_labels]
