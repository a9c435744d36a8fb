"""Generating the rest of an answer whose sampled first token is not a label word (decoding sweeps)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import LogitsProcessorList, PreTrainedModel, ProcessorMixin

from lvlm_debias.decoding.sampling import DecodingConfig, warpers
from lvlm_debias.inputs.images import load_image
from lvlm_debias.inputs.noise import stable_seed
from lvlm_debias.inputs.probes import probe_inputs
from lvlm_debias.models.prompts import build_prompt
from lvlm_debias.scoring.score import next_token_logits


class ForceFirstToken:
    """A logits processor that leaves only ``tokens[b]`` possible for row ``b`` at the first generated position
    (``prompt_length`` is the padded input length), so ``generate`` continues answers that start with given tokens."""

    def __init__(self, tokens: torch.Tensor, prompt_length: int) -> None:
        self.tokens, self.prompt_length = tokens, prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[1] != self.prompt_length:
            return scores
        forced = torch.full_like(scores, -torch.inf)
        forced[torch.arange(len(scores)), self.tokens.to(scores.device)] = 0.0
        return forced


class Continuations:
    """``continuations(rows, tokens, config)``: the answer texts for questions ``rows`` that start with ``tokens``
    (stored token ids) or, where a token is -1, with a token drawn from the configuration's distribution outside the
    stored ids ``stored_ids[row]``; the rest is sampled by ``model.generate`` under ``config``, in batches of
    ``batch_size`` rows. Seeded per configuration: a rerun gives the same texts. ``image_of(row)`` loads a question's
    image only when it is needed."""

    def __init__(
        self,
        model: PreTrainedModel,
        processor: ProcessorMixin,
        prompts: Sequence[str],
        image_of: Callable[[int], Image.Image],
        stored_ids: np.ndarray,
        seed: int,
        max_new_tokens: int,
        batch_size: int,
    ) -> None:
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        self.model, self.processor = model, processor
        self.prompts, self.image_of, self.stored_ids = prompts, image_of, stored_ids
        self.seed, self.max_new_tokens, self.batch_size = seed, max_new_tokens, batch_size

    @classmethod
    def for_questions(
        cls,
        model: PreTrainedModel,
        processor: ProcessorMixin,
        questions: Sequence[Mapping],
        image_root: str | Path,
        template: str,
        stored_ids: np.ndarray,
        seed: int,
        max_new_tokens: int,
        batch_size: int,
    ) -> Continuations:
        """Continuations of benchmark ``questions`` (rows in that order), prompted with ``template``, images read
        from ``image_root`` on demand."""
        return cls(
            model,
            processor,
            [build_prompt(template, q["text"]) for q in questions],
            lambda i: load_image(Path(image_root), questions[i]),
            stored_ids,
            seed,
            max_new_tokens,
            batch_size,
        )

    @torch.inference_mode()
    def __call__(self, rows: Sequence[int], tokens: Sequence[int], config: DecodingConfig) -> list[str]:
        if len(rows) != len(tokens):
            raise ValueError(f"{len(rows)} rows but {len(tokens)} first tokens")
        torch.manual_seed(stable_seed(self.seed, "continuation", config.name))
        texts = []
        for start in range(0, len(rows), self.batch_size):
            texts += self._batch(
                list(rows[start : start + self.batch_size]), list(tokens[start : start + self.batch_size]), config
            )
        return texts

    def _batch(self, rows: list[int], tokens: list[int], config: DecodingConfig) -> list[str]:
        inputs = probe_inputs(
            self.processor, [self.prompts[i] for i in rows], "naive", [self.image_of(i) for i in rows]
        )
        first = torch.tensor(tokens, dtype=torch.long)
        tail = [b for b, t in enumerate(tokens) if t < 0]
        if tail:
            scores = warpers(config)(inputs["input_ids"], next_token_logits(self.model, inputs))
            for b in tail:
                scores[b, torch.as_tensor(self.stored_ids[rows[b]])] = -torch.inf
            first[tail] = torch.multinomial(torch.softmax(scores[tail], dim=-1), 1)[:, 0].cpu()
        length = inputs["input_ids"].shape[1]
        out = self.model.generate(
            **{k: v.to(self.model.device) for k, v in inputs.items()},
            max_new_tokens=self.max_new_tokens,
            pad_token_id=self.processor.tokenizer.pad_token_id,
            logits_processor=LogitsProcessorList([ForceFirstToken(first, length)]),
            **config.generate_kwargs(),
        )
        return self.processor.tokenizer.batch_decode(out[:, length:].tolist(), skip_special_tokens=True)
