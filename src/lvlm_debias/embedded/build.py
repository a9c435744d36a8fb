"""Build the embedded ShapesWorld model end to end: train, measure, write the checkpoint folder atomically."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import torch

from lvlm_debias.atomic import atomic_path
from lvlm_debias.data.jsonl import read_jsonl
from lvlm_debias.embedded.corpus import Prior
from lvlm_debias.embedded.evaluate import heldout_accuracy, measured_prior
from lvlm_debias.embedded.tiny_llava import TinyLlavaSpec
from lvlm_debias.embedded.train import TrainSettings, save_vision_tower, train_tiny_llava
from lvlm_debias.world.scenes import world_spec

log = logging.getLogger(__name__)


def _train(
    annotations: Path,
    world: Mapping,
    model: Mapping,
    seed: int,
    threads: int | None,
    vision_tower: Path | None = None,
    vision_only: bool = False,
):
    """``train_tiny_llava`` on the training scenes of ``annotations`` with the settings of config entry ``model``;
    with ``vision_only``, stages a to c are skipped (0 steps): only stage 0 runs."""
    if threads:
        torch.set_num_threads(threads)
    annotations = Path(annotations)
    scenes = [r for r in read_jsonl(annotations) if r["split"] == "train"]
    if not scenes:
        raise ValueError(f"{annotations} holds no training images (records with split 'train')")
    settings = TrainSettings.from_dict(model.get("training", {}))
    if vision_only:
        settings = replace(settings, text_steps=0, align_steps=0, visual_steps=0, caption_steps=0)
    prior = Prior(**model.get("prior", {}))
    trained = train_tiny_llava(
        scenes,
        annotations.parent,
        world_spec({"world": world}),
        prior=prior,
        spec=TinyLlavaSpec.from_dict(model.get("architecture", {})),
        settings=settings,
        seed=seed,
        template=model["prompt"],
        vision_tower=vision_tower,
    )
    return trained, scenes, prior


def build_vision_tower(
    annotations: Path, out: Path, world: Mapping, model: Mapping, seed: int, threads: int | None = None
) -> dict:
    """Run stage 0 of config entry ``model`` (seed ``seed``) and write its vision tower to ``out`` (safetensors),
    for :func:`build_embedded_model`'s ``vision_tower``; returns the stage timings. The tower does not depend on the
    entry's prior (see ``train_tiny_llava``), so one tower serves every ``yes_rate`` of a seed."""
    trained, _, _ = _train(annotations, world, model, seed, threads, vision_only=True)
    out = Path(out)
    with atomic_path(out) as staging:
        save_vision_tower(trained.model, staging)
    return trained.card["stage_seconds"]


def build_embedded_model(
    annotations: Path,
    out_dir: Path,
    world: Mapping,
    model: Mapping,
    seed: int,
    threads: int | None = None,
    vision_tower: Path | None = None,
) -> dict:
    """Train the model of config entry ``model`` on the world's training images and write it to ``out_dir``.

    The folder holds what ``save_pretrained`` writes (safetensors weights, config, tokenizer, processor) and
    ``model_card.json``; it appears only when complete (written next to it, then renamed). Returns the card.
    With ``vision_tower`` (from :func:`build_vision_tower` with the same seed), stage 0 is loaded, not run.
    """
    annotations = Path(annotations)
    trained, scenes, prior = _train(annotations, world, model, seed, threads, vision_tower)
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
