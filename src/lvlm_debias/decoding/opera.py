"""OPERA (Huang et al., "OPERA: Alleviating Hallucination in Multi-Modal Large Language Models via Over-Trust Penalty
and Retrospection-Allocation", CVPR 2024, arXiv 2311.17911): beam search whose candidates are penalised when their
attention shows the "over-trust" pattern (the response keeps attending to one summary token instead of the image),
and that rolls the beams back when one summary token keeps drawing it. Not a logits processor: :class:`OPERA`
overrides ``DecodingMethod.generate`` with its own beam-search loop, :func:`opera_search` (the method descriptors,
``OPERA`` and ``BeamSearch``, are in ``decoding.beams``, which imports this module only when it decodes).

At each step, for each beam, the top ``candidates`` tokens ``c`` (by logit ``l_c``) are fed in one extra forward
pass, side by side at the same position (a 4-D mask lets each see the cache and itself), to read their attention.
``w`` is the last layer's attention, max over heads, each row normalised over all keys;
``W`` its (R, R) lower-triangular block among the response tokens (rows and columns from the first generated token;
the last row is the candidate's, R the response length with the candidate). With ``sigma = scale_factor``:

    phi_j(c) = 1e-7 * prod_{i=j}^{R-1} sigma W_ij              (the column-wise product: over-trust in token j)
    penalty(c) = -sum_{k in image} w_{R-1,k}                   while R <= 10 (the first 10 tokens)
               = max_j phi_j(c)                                after
    s_c = l_c - penalty_weight * penalty(c),  every other token -999

and the beam search goes on over ``log_softmax(s)``. ``phi`` is rounded to float16, as the official code stores it
(below 6e-8 it is 0, above 65504 inf). The column ``j`` of the maximum, its mode over a beam's candidates and then
over the beams, is the step's over-trust location. When that location (>= 10) has been every beam's for more than
``threshold`` steps, the beams roll back to the step right after it (each position at most ``candidates`` times,
then the one before), and there the (beam, token) continuations chosen before are banned: the restored step's logits
are shifted so that their minimum is -999, and the banned ones set to -999 (no candidates, no penalty on that step).

Defaults (``config/schema.yaml``'s ``generation.opera``) are the official code's: 5 beams, 5 candidates,
``scale_factor`` 50, ``threshold`` 15, ``penalty_weight`` 1 (its ``opera_beam_search`` in its patched
transformers 4.29 ``generation/utils.py``, read for this file; no code copied). Two differences, both documented
here: the beam bookkeeping (finished beams, length normalisation, stopping) is transformers 5's own, so that with the
penalty off and every token a candidate this is exactly ``model.generate(num_beams=...)`` (a test checks it; 4.29
divided a finished beam's log-probability by the prompt's length plus its own); and a rollback clears the bans of
every later position (the official code clears one position and, by a negative index, entries that are never read).
Prompts are searched side by side, and one that rolls back is searched again on its own (the official code ran
batch size 1); the sampling setting does not apply.
The model runs with eager attention during the search (other implementations return no attention weights).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel

from lvlm_debias.decoding.base import GenerationBatch, OperaParameters
from lvlm_debias.inputs.probes import image_token_id, probe_inputs
from lvlm_debias.models.families import family_of

log = logging.getLogger(__name__)

#: the official code's floor for the logits of tokens that are not candidates (and of banned continuations)
FLOOR = -999.0
#: response lengths (the candidate included) up to which the penalty is minus the candidate's image attention, and
#: the smallest over-trust location a rollback goes to
FIRST_TOKENS = 10
#: the official code's window (``window_size``): a rollback goes back at most this many tokens
WINDOW = 512


def over_trust_scores(window: torch.Tensor, scale_factor: float) -> torch.Tensor:
    """``phi_j = 1e-7 * prod_{i=j}^{R-1} scale_factor * W_ij`` for each column ``j`` of ``window`` (..., R, R), the
    response tokens' normalised attention (module docstring), computed in ``window``'s dtype and rounded to float16
    as the official code does. Returns (..., R)."""
    size = window.shape[-1]
    lower = torch.ones(size, size, dtype=torch.bool, device=window.device).tril()
    scaled = torch.where(lower, scale_factor * window, torch.ones((), dtype=window.dtype, device=window.device))
    return (1e-7 * scaled.prod(dim=-2)).to(torch.float16)


def over_trust_penalty(
    window: torch.Tensor, image_share: torch.Tensor, scale_factor: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per beam and candidate, the penalty and the over-trust location (module docstring): ``window`` (N, K, R, R),
    ``image_share`` (N, K) the candidates' attention on the image tokens. The penalty is ``-image_share`` while
    ``R <= FIRST_TOKENS``, then ``max_j phi_j``; the location is that ``argmax_j`` either way."""
    best, where = over_trust_scores(window, scale_factor).max(dim=-1)
    penalty = -image_share if window.shape[-1] <= FIRST_TOKENS else best.to(image_share.dtype)
    return penalty, where


def rollback_position(
    history: torch.Tensor,
    location: int,
    response_length: int,
    times: MutableMapping[int, int],
    *,
    threshold: int,
    candidates: int,
    window: int = WINDOW,
) -> int | None:
    """The position to roll back to, or None. ``history`` (N, S): each beam's over-trust location at each step so
    far, this one included; ``location``: this step's (the mode over beams); ``response_length`` R. A rollback
    happens when ``location`` is in more than ``threshold`` of every beam's entries and ``location >=
    FIRST_TOKENS``; it goes to ``location + 1``, or to ``location`` once that position was rolled back to
    ``candidates`` times, and not at all once both were; at most ``window`` + 1 tokens back. ``times`` counts the
    rollbacks per position (updated here)."""
    if location < FIRST_TOKENS or not bool(((history == location).sum(dim=-1) > threshold).all()):
        return None
    position = location + 1
    if times.get(position, 0) >= candidates:
        position -= 1
        if times.get(position, 0) >= candidates:
            return None
    times[position] = times.get(position, 0) + 1
    if response_length - position > window + 1:
        position = max(1, response_length - window - 1)
    return position


@dataclass(frozen=True)
class Beams:
    """The beam search's state: the running beams' generated tokens ``sequences`` (N, T) and log-probabilities
    ``scores`` (N,), best first; the finished hypotheses (up to N, best first: ``done`` tokens, ``done_scores``
    normalised by their length, ``done_real``: a slot really filled), and whether a running beam can still beat a
    finished one (``open``). As transformers 5's beam search keeps it (``length_penalty`` 1, ``early_stopping``
    False)."""

    sequences: torch.Tensor
    scores: torch.Tensor
    done: tuple[torch.Tensor, ...]
    done_scores: torch.Tensor
    done_real: torch.Tensor
    open: bool = True

    @classmethod
    def start(cls, n: int, device: torch.device | str = "cpu") -> Beams:
        """N empty beams, all but the first at -1e9 (so that the first step does not pick one token N times)."""
        scores = torch.full((n,), -1e9, device=device)
        scores[0] = 0.0
        empty = torch.zeros((n, 0), dtype=torch.long, device=device)
        return cls(empty, scores, tuple(empty[0] for _ in range(n)), torch.full((n,), -1e9, device=device),
                   torch.zeros(n, dtype=torch.bool, device=device))  # fmt: skip

    def best(self) -> torch.Tensor:
        """The generated tokens of the best finished hypothesis."""
        return self.done[0]


def select(
    beams: Beams, log_probs: torch.Tensor, eos: Sequence[int], max_new_tokens: int
) -> tuple[Beams, torch.Tensor, torch.Tensor, bool]:
    """One beam-search step over ``log_probs`` (N, V): the new state, the source beam and token of each new running
    beam (N,), and whether the search is over. The best ``max(2, 1 + len(eos)) * N`` continuations of ``scores +
    log_probs``; those ending in an end token, or at ``max_new_tokens``, finish (if among the best N, scored by their
    sum over their length) and the best N others run on."""
    n, vocab = log_probs.shape
    length = beams.sequences.shape[1] + 1
    keep = max(2, 1 + len(eos)) * n
    top, flat = (log_probs + beams.scores[:, None]).reshape(-1).topk(keep)
    source, tokens = flat // vocab, flat % vocab
    grown = torch.cat([beams.sequences[source], tokens[:, None]], dim=1)
    ends = torch.isin(tokens, torch.tensor(list(eos), dtype=tokens.dtype, device=tokens.device))
    ends |= length >= max_new_tokens
    running = top - 1e9 * ends.float()
    order = running.topk(n).indices
    finishing = ends & (torch.arange(keep, device=top.device) < n)  # only the best N may finish
    finished = top / length + (0.0 if beams.open else -1e9) + -1e9 * (~finishing).float()
    merged = torch.cat([beams.done_scores, finished])
    real = torch.cat([beams.done_real, finishing])
    pick = merged.topk(n).indices
    done = tuple(beams.done[i] if i < n else grown[i - n] for i in pick.tolist())
    state = Beams(grown[order], running[order], done, merged[pick], real[pick], beams.open)
    best_running = state.scores[0] / length
    worst_done = torch.where(state.done_real, state.done_scores.min(), torch.full_like(state.done_scores, -1e9))
    state = replace(state, open=beams.open and bool((best_running > worst_done).any()))
    return state, source[order], tokens[order], (not state.open) or bool(ends.all())


class _Passes:
    """The forward passes of a search over B prompts, on one KV cache of B * N rows (prompt b's beams are rows
    b * N ... b * N + N - 1; the family's ``forward``, positions continuing each left-padded prompt's): the prompts
    once, then one token per row per step; candidate passes are cropped off again."""

    def __init__(
        self, model: PreTrainedModel, inputs: Mapping[str, torch.Tensor], beams: int, *, keep_prompt: bool
    ) -> None:
        self.model, self.family, self.beams, self.keep_prompt = model, family_of(model), beams, keep_prompt
        self.cache_arg = self.family.cache_arg(model)
        mask = inputs["attention_mask"]
        positions = self.family.positions(mask, inputs, model)
        out = self.family.forward(model, inputs, position_ids=positions, use_cache=True, logits_to_keep=1)
        self.prompt_cache, self.prompt_logits = self.family.cache_of(out), out.logits[:, -1]
        self.prompt_mask = mask.repeat_interleave(beams, dim=0)
        self.prompt_length = mask.shape[1]
        self.last = None if positions is None else positions[..., -1:].repeat_interleave(beams, dim=-2)
        self.cache, self.mask = None, None

    def restart(self, generated: torch.Tensor) -> torch.Tensor:
        """Logits (B * N, V) after the prompts and each row's ``generated`` tokens (B * N, T), from the prompts'
        cache: a fresh copy of it with ``keep_prompt`` (the start, and a rollback's restored state), else the cache
        itself, once (a search that does not roll back starts only once)."""
        if self.prompt_cache is None:
            raise ValueError("the prompts' cache was not kept: restart once, or pass keep_prompt=True")
        cache = copy.deepcopy(self.prompt_cache) if self.keep_prompt else self.prompt_cache
        if not self.keep_prompt:
            self.prompt_cache = None
        self.cache, self.mask = cache, self.prompt_mask
        self.cache.batch_repeat_interleave(self.beams)
        if generated.shape[1] == 0:
            return self.prompt_logits.repeat_interleave(self.beams, dim=0)
        return self._run(generated, attention=False)[0]

    def _run(self, tokens: torch.Tensor, *, attention: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        width = tokens.shape[1]
        self.mask = torch.cat([self.mask, self.mask.new_ones((self.mask.shape[0], width))], dim=1)
        positions = None
        if self.last is not None:
            done = self.mask.shape[1] - width - self.prompt_length
            positions = self.last + torch.arange(done + 1, done + width + 1, device=self.last.device)
        out = self.family.forward(
            self.model, {"input_ids": tokens, "attention_mask": self.mask}, position_ids=positions,
            use_cache=True, output_attentions=attention, logits_to_keep=1, **{self.cache_arg: self.cache},
        )  # fmt: skip
        self.cache = self.family.cache_of(out)
        if not attention:
            return out.logits[:, -1], None
        row = out.attentions[-1][:, :, -1].amax(dim=1)  # (rows, keys): the last layer, max over heads
        return out.logits[:, -1], row / row.sum(dim=-1, keepdim=True)

    def feed(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (rows, V) and the normalised attention row (rows, keys) of each row's new token (rows,)."""
        return self._run(tokens[:, None], attention=True)

    def candidate_rows(self, candidates: torch.Tensor) -> torch.Tensor:
        """The normalised attention rows (rows, K, keys + 1) of each row's candidates (rows, K): one pass of the K
        candidates side by side at the same position, each attending to the cache and itself only (a 4-D additive
        mask), then cropped off the cache. Row ``k``'s last key is candidate ``k`` itself."""
        rows, k = candidates.shape
        keys = self.mask.shape[1]
        seen = self.mask.bool()[:, None, None, :].expand(rows, 1, k, keys)
        itself = torch.eye(k, dtype=torch.bool, device=candidates.device).expand(rows, 1, k, k)
        allowed = torch.cat([seen, itself], dim=-1)
        dtype = self.model.dtype
        mask = torch.zeros(allowed.shape, dtype=dtype, device=candidates.device)
        mask = mask.masked_fill(~allowed, torch.finfo(dtype).min)
        positions = None
        if self.last is not None:
            positions = (self.last + keys - self.prompt_length + 1).expand(*self.last.shape[:-1], k)
        out = self.family.forward(
            self.model, {"input_ids": candidates, "attention_mask": mask}, position_ids=positions,
            use_cache=True, output_attentions=True, logits_to_keep=1, **{self.cache_arg: self.cache},
        )  # fmt: skip
        self.cache = self.family.cache_of(out)
        self.cache.crop(-k)  # the candidates just appended
        weights = out.attentions[-1].amax(dim=1)  # (rows, K, keys + K): the last layer, max over heads
        row = torch.cat([weights[..., :keys], weights[..., keys:].diagonal(dim1=-2, dim2=-1)[..., None]], dim=-1)
        return row / row.sum(dim=-1, keepdim=True)

    def reorder(self, rows: torch.Tensor) -> None:
        """Each row continues the cache row ``rows[i]`` (a beam-search step)."""
        self.cache.reorder_cache(rows)


@dataclass(frozen=True)
class _State:
    """What a rollback restores: the beams, their response attention (N, T, T, on the CPU), and the (source beam,
    token) choice that led to them (None at the start)."""

    beams: Beams
    window: torch.Tensor
    arrived: tuple[torch.Tensor, torch.Tensor] | None


class _Search:
    """One prompt's OPERA bookkeeping (module docstring), over its N rows of the passes: its beams, their response
    attention ``window`` (N, T, T), the states and over-trust locations of every step (for a rollback), the
    rollback counts per position and the banned continuations."""

    def __init__(
        self, parameters: OperaParameters, image_mask: torch.Tensor, prompt_length: int, dtype, keep_states: bool
    ) -> None:
        self.parameters, self.image_mask, self.prompt = parameters, image_mask, prompt_length
        self.keep_states = keep_states  # what a rollback restores: kept only by a search that rolls back
        n, device = parameters.beams, image_mask.device
        self.beams = Beams.start(n, device)
        self.window = torch.zeros((n, 0, 0), dtype=dtype, device=device)
        self.states: list[_State] = []
        self.history: list[torch.Tensor] = []
        self.times: dict[int, int] = {}
        self.banned: dict[int, torch.Tensor] = {}
        self.arrived = None
        self.rollbacks = 0
        self.result: torch.Tensor | None = None

    def penalised(self, top: torch.Tensor, candidates: torch.Tensor, rows: torch.Tensor, vocab: int):
        """The scores (N, V) to search on (the candidates' penalised logits, the rest at FLOOR) and the position to
        roll back to (or None), from the candidates' logits ``top`` and ids (N, K) and attention ``rows`` (N, K,
        keys). Records this step's state and locations."""
        n, k = candidates.shape
        length = self.beams.sequences.shape[1]
        rows = rows.to(self.window.dtype)
        image_share = rows[..., : self.prompt][..., self.image_mask].sum(dim=-1)
        grown = F.pad(self.window, (0, 1))[:, None].expand(n, k, length, length + 1)
        window = torch.cat([grown, rows[:, :, None, self.prompt :]], dim=2)
        penalty, where = over_trust_penalty(window, image_share, self.parameters.scale_factor)
        locations = where.mode(dim=-1).values
        self.history.append(locations)
        if self.keep_states:
            self.states.append(_State(self.beams, self.window.cpu(), self.arrived))
        position = rollback_position(
            torch.stack(self.history, dim=-1), int(locations.mode().values), length + 1, self.times,
            threshold=self.parameters.threshold, candidates=k,
        )  # fmt: skip
        scores = torch.full((n, vocab), FLOOR, dtype=top.dtype, device=top.device)
        return scores.scatter(-1, candidates, top - self.parameters.penalty_weight * penalty), position

    def roll_back(self, position: int, restart) -> torch.Tensor | None:
        """Roll back to ``position`` (the official code's steps: drop the later states, restore the one before,
        ban the continuations chosen from it) and return the scores (N, V) to search on, from ``restart``
        (restored tokens -> logits); None when too few states are left."""
        for _ in range(max(0, self.beams.sequences.shape[1] + 1 - position - 2)):
            self.states.pop()
            self.history.pop()
        if len(self.states) < 2:
            return None
        restored, (source, tokens) = self.states[-2], self.states[-1].arrived
        self.states.pop()
        self.history.pop()
        self.beams, self.arrived = restored.beams, restored.arrived
        self.window = restored.window.to(self.image_mask.device)
        logits = restart(self.beams.sequences)
        n, vocab = logits.shape
        for later in [p for p in self.banned if p > position]:
            del self.banned[later]
        self.banned[position] = torch.cat([self.banned.get(position, source.new_zeros(0)), source * vocab + tokens])
        scores = (logits - (-FLOOR + logits.min(dim=-1, keepdim=True).values)).reshape(-1)
        scores[self.banned[position]] = FLOOR
        self.rollbacks += 1
        return scores.view(n, vocab)

    def choose(self, scores: torch.Tensor, eos: Sequence[int], max_new_tokens: int) -> torch.Tensor:
        """One beam-search step over ``scores``; returns each new beam's source beam (N,); sets ``result`` when
        the search is over."""
        self.beams, source, tokens, finished = select(
            self.beams, torch.log_softmax(scores.float(), dim=-1), eos, max_new_tokens
        )
        self.arrived = (source, tokens)
        if finished:
            self.result = self.beams.best()
        return source

    def advance(self, source: torch.Tensor, row: torch.Tensor) -> None:
        """The response attention after the step: the source beams' windows, and the new tokens' rows (N, keys)."""
        row = row.to(self.window.dtype)
        self.window = torch.cat([F.pad(self.window[source], (0, 1)), row[:, None, self.prompt :]], dim=1)


@torch.inference_mode()
def opera_search(
    model: PreTrainedModel,
    inputs: Mapping[str, torch.Tensor],
    image_mask: torch.Tensor,
    parameters: OperaParameters,
    eos: Sequence[int],
    max_new_tokens: int,
    *,
    roll_back: bool = True,
) -> list[tuple[torch.Tensor | None, int]]:
    """OPERA's beam search (module docstring) for each prompt of ``inputs`` (B left-padded rows, on the model's
    device), ``image_mask`` (B, prompt length) their image tokens, searched side by side. Returns, per prompt, the
    generated tokens of its best hypothesis and its number of rollbacks. With ``roll_back`` False a prompt that
    would roll back is left (None, 0), for a search of its own (a rollback restarts one prompt's cache); B must be 1
    otherwise. The model must use eager attention (:meth:`OPERA.generate` sees to it)."""
    n, batch = parameters.beams, image_mask.shape[0]
    if roll_back and batch != 1:
        raise ValueError(f"a search that rolls back takes one prompt at a time, got {batch}")
    passes = _Passes(model, inputs, n, keep_prompt=roll_back)
    logits = passes.restart(torch.zeros((batch * n, 0), dtype=torch.long, device=model.device))
    vocab = logits.shape[-1]
    k = min(parameters.candidates, vocab)
    searches = [_Search(parameters, image_mask[b], passes.prompt_length, model.dtype, roll_back) for b in range(batch)]
    left = [False] * batch

    def running() -> list[int]:
        return [b for b, s in enumerate(searches) if s.result is None and not left[b]]

    while live := running():
        top, candidates = logits.topk(k, dim=-1)
        rows = passes.candidate_rows(candidates)
        order = torch.arange(batch * n, device=logits.device)
        tokens = candidates[:, 0].clone()
        for b in live:
            search, own = searches[b], slice(b * n, b * n + n)
            scores, position = search.penalised(top[own], candidates[own], rows[own], vocab)
            if position is not None and not roll_back:
                left[b] = True
                continue
            if position is not None:
                restored = search.roll_back(position, passes.restart)
                scores = scores if restored is None else restored
            source = search.choose(scores, eos, max_new_tokens)
            order[own] = b * n + source
            tokens[own] = search.arrived[1]
        if not (live := running()):
            break
        passes.reorder(order)
        logits, row = passes.feed(tokens)
        for b in live:
            own = slice(b * n, b * n + n)
            searches[b].advance(order[own] - b * n, row[own])
    return [(s.result, s.rollbacks) for s in searches]


@contextmanager
def eager_attention(model: PreTrainedModel) -> Iterator[PreTrainedModel]:
    """``model`` with eager attention for the ``with`` block (the only implementation that returns attention
    weights), then its own again."""
    previous = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        yield model
    finally:
        model.set_attn_implementation(previous)


def end_tokens(model: PreTrainedModel, tokenizer) -> list[int]:
    """The ids that end a generation: the model's generation config's ``eos_token_id`` (one or a list), else the
    tokenizer's."""
    eos = getattr(model.generation_config, "eos_token_id", None)
    if eos is None:
        eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError(
            "OPERA needs an end-of-sequence token: neither the generation config nor the tokenizer has one"
        )
    return [int(e) for e in (eos if isinstance(eos, list | tuple) else [eos])]


def opera_generate(
    batch: GenerationBatch, inputs: Mapping[str, torch.Tensor], parameters: OperaParameters, max_new_tokens: int
) -> torch.Tensor:
    """The generated ids (prompt included) of ``batch``'s prompts under OPERA (``decoding.beams.OPERA.generate``):
    searched side by side, ``len(batch) // beams`` at a time (so that the rows of the KV cache stay about the batch
    size the config chose), with eager attention; a prompt that rolls back is searched again on its own."""
    model, processor = batch.model, batch.processor
    family, image_id = family_of(model), image_token_id(processor)
    eos = end_tokens(model, processor.tokenizer)
    step = max(1, len(batch.prompts) // parameters.beams)

    def prompt_inputs(rows: slice) -> dict[str, torch.Tensor]:
        images = None if batch.images is None else list(batch.images[rows])
        return family.to_device(model, probe_inputs(processor, list(batch.prompts[rows]), "naive", images))

    found: list[tuple[torch.Tensor | None, int]] = []
    with eager_attention(model):
        for start in range(0, len(batch.prompts), step):
            chunk = prompt_inputs(slice(start, start + step))
            found += opera_search(model, chunk, chunk["input_ids"] == image_id, parameters, eos,
                                  max_new_tokens, roll_back=False)  # fmt: skip
        for i, (generated, _) in enumerate(found):
            if generated is None:
                row = prompt_inputs(slice(i, i + 1))
                (found[i],) = opera_search(model, row, row["input_ids"] == image_id, parameters, eos,
                                           max_new_tokens)  # fmt: skip
                log.info("OPERA rolled back %d times on prompt %d of the batch", found[i][1], i)
    outputs = [generated for generated, _ in found]
    pad = processor.tokenizer.pad_token_id
    tail = torch.full(
        (len(outputs), max(1, *map(len, outputs))), pad, dtype=torch.long, device=inputs["input_ids"].device
    )
    for i, generated in enumerate(outputs):
        tail[i, : len(generated)] = generated
    return torch.cat([inputs["input_ids"], tail], dim=1)
