"""Build the embedded ShapesWorld model end to end: train, measure, write the checkpoint folder atomically."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import torch

from lvlm_debias.config import world_spec
from lvlm_debias.data.jsonl import read_jsonl
from lvlm_debias.models.corpus import Prior
from lvlm_debias.models.evaluate import heldout_accuracy, measured_prior
from lvlm_debias.models.tiny_llava import TinyLlavaSpec
from lvlm_debias.models.train import TrainSettings, train_tiny_llava

log = logging.getLogger(__name__)


def build_embedded_model(
    annotations: Path, out_dir: Path, world: Mapping, model: Mapping, seed: int, threads: int | None = None
) -> dict:
    """Train the model of config entry ``model`` on the world's training images and write it to ``out_dir``.

    The folder holds what ``save_pretrained`` writes (safetensors weights, config, tokenizer, processor) and
    ``model_card.json``; it appears only when complete (written next to it, then renamed). Returns the card.
    """
    if threads:
        torch.set_num_threads(threads)
    annotations = Path(annotations)
    scenes = [r for r in read_jsonl(annotations) if r["split"] == "train"]
    if not scenes:
        raise ValueError(f"{annotations} holds no training images (records with split 'train')")
    prior = Prior(**model.get("prior", {}))
    trained = train_tiny_llava(
        scenes,
        annotations.parent,
        world_spec({"world": world}),
        prior=prior,
        spec=TinyLlavaSpec.from_dict(model.get("architecture", {})),
        settings=TrainSettings.from_dict(model.get("training", {})),
        seed=seed,
        template=model["prompt"],
    )
    heldout_ids = set(trained.card.pop("heldout_image_ids"))
    heldout = [s for s in scenes if s["image_id"] in heldout_ids]
    trained.card["measured_prior"] = measured_prior(
        trained.model, trained.processor, world["shapes"], world["colours"], model["prompt"], prior.colour
    )
    trained.card.update(
        heldout_accuracy(
            trained.model, trained.processor, heldout, annotations.parent, world["shapes"], model["prompt"], seed
        )
    )
    log.info("model card: %s", trained.card)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        trained.save(staging)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return trained.card
