"""The tiny model's optimisation settings (``models.<name>.training`` in the config): :class:`TrainSettings`, read
by ``embedded.train`` and checked by ``config.check_config`` at every parse of the Snakefile, so this module imports
no torch (the training code, ``embedded.train``, does)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lvlm_debias.embedded.corpus import NEGATIVE_SAMPLING
from lvlm_debias.settings import from_section

#: stage-0 features the throw-away head reads: the max over patch tokens, the CLS token, or both (two losses)
VISION_POOLING = ("max", "cls", "both")


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings; every field has a key under ``models.<name>.training`` in the config."""

    vision_steps: int = 1000
    vision_images: int = 10000
    vision_learning_rate: float = 1e-3
    vision_pooling: str = "both"
    vision_dense_weight: float = 0.0
    vision_dense_cover: float = 0.25
    text_steps: int = 300
    visual_steps: int = 3000
    batch_size: int = 32
    learning_rate: float = 3e-4
    text_replay: float = 0.25
    colour_questions: bool = False
    text_corpus_size: int = 20000
    task_text_share: float = 0.3
    task_visual_share: float = 0.5
    caption_steps: int = 600
    caption_replay: float = 0.35
    freeze_vision: bool = True
    visual_yes_share: float = 0.5
    visual_negatives: str = "matched"
    heldout_share: float = 0.1
    warmup_share: float = 0.05
    grad_clip: float = 1.0
    align_steps: int = 0
    align_learning_rate: float = 1e-3
    group_by_length: bool = False

    def __post_init__(self) -> None:
        for name in ("task_visual_share", "caption_replay"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"training.{name} must lie in [0, 1), got {getattr(self, name)!r}")
        if self.text_replay >= 1 or self.text_replay < 0:
            raise ValueError(
                f"training.text_replay must lie in [0, 1) (stage b needs visual questions), got {self.text_replay!r}"
            )
        if self.text_replay + self.caption_replay >= 1:
            raise ValueError(
                f"training.text_replay + caption_replay must stay below 1 (stage c needs captions), got "
                f"{self.text_replay} + {self.caption_replay}"
            )
        if not 0 < self.visual_yes_share < 1:
            raise ValueError(f"training.visual_yes_share must lie in (0, 1), got {self.visual_yes_share!r}")
        if self.visual_negatives not in NEGATIVE_SAMPLING:
            raise ValueError(
                f"training.visual_negatives must be one of {list(NEGATIVE_SAMPLING)}, got {self.visual_negatives!r}"
            )
        if self.vision_dense_weight < 0:
            raise ValueError(f"training.vision_dense_weight must be >= 0, got {self.vision_dense_weight!r}")
        if not 0 < self.vision_dense_cover <= 1:
            raise ValueError(f"training.vision_dense_cover must lie in (0, 1], got {self.vision_dense_cover!r}")
        if self.vision_pooling not in VISION_POOLING:
            raise ValueError(
                f"training.vision_pooling must be one of {list(VISION_POOLING)}, got {self.vision_pooling!r}"
            )

    @classmethod
    def from_dict(cls, values: Mapping) -> TrainSettings:
        return from_section(cls, values, "training")
