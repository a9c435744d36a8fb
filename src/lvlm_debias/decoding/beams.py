"""The beam-search decoding methods: :class:`OPERA` (beam search with an over-trust penalty and rollbacks; the
search and its formulas are ``decoding.opera``'s) and plain :class:`BeamSearch`, the null OPERA has to beat. Both are
deterministic, so generation decodes them at the config's first sampling setting only (``samples`` False).

Jobs that load no model read these descriptors (the registry, ``decoding.methods``), so the search is imported only
inside :meth:`OPERA.generate`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from lvlm_debias.decoding.base import DecodingMethod, DecodingParameters, GenerationBatch
from lvlm_debias.decoding.sampling import DecodingConfig

if TYPE_CHECKING:  # annotations only
    import torch


@dataclass(frozen=True)
class OPERA(DecodingMethod):
    """OPERA (``decoding.opera``) at the parameters' ``opera`` settings: no reference input; prompts searched side
    by side with eager attention; the sampling setting ignored (beam search is deterministic), so it is decoded at
    the config's first generation setting only."""

    samples: ClassVar[bool] = False

    def generate_kwargs(
        self, batch: GenerationBatch, config: DecodingConfig, parameters: DecodingParameters
    ) -> dict[str, object]:
        return {"parameters": parameters.opera}

    def generate(
        self, batch: GenerationBatch, inputs: Mapping[str, torch.Tensor], kwargs: Mapping, max_new_tokens: int
    ) -> torch.Tensor:
        """``decoding.opera.opera_generate``: the batch's prompts searched side by side, a prompt that rolls back
        searched again on its own."""
        from lvlm_debias.decoding.opera import opera_generate

        return opera_generate(batch, inputs, kwargs["parameters"], max_new_tokens)


@dataclass(frozen=True)
class BeamSearch(DecodingMethod):
    """Plain beam search at OPERA's ``beams`` (transformers' own: length penalty 1, ``early_stopping`` False): the
    null OPERA has to beat, as its paper compares with it, since beam search alone already changes what a model
    says. It is OPERA with the penalty and the rollback off (a test checks it token for token)."""

    samples: ClassVar[bool] = False

    def generate_kwargs(
        self, batch: GenerationBatch, config: DecodingConfig, parameters: DecodingParameters
    ) -> dict[str, object]:
        return {"num_beams": parameters.opera.beams, "do_sample": False}
