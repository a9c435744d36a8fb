"""Train the embedded ShapesWorld LLaVA in seeded stages, as LLaVA-1.5 is built: (0) the vision tower learns to
see objects (standing in for CLIP pretraining: image-level labels and, optionally, per-patch labels), (a) text-only
pretraining of the language model on a corpus that follows the injected prior, (b) visual instruction tuning on a
limited image budget with balanced labels, (c) caption tuning ("Describe the image."), replaying stage-b questions
and the text corpus so that the yes/no answers and the prior are kept. The vision tower stays frozen after stage 0;
its features are then computed once per training image."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import LlavaForConditionalGeneration, LlavaProcessor

from lvlm_debias.embedded.corpus import (
    Prior,
    caption_examples,
    task_text_examples,
    task_visual_examples,
    text_examples,
    visual_examples,
    vocabulary_texts,
)
from lvlm_debias.embedded.tiny_llava import TinyLlavaSpec, build_model, build_processor
from lvlm_debias.embedded.tokenizer import build_tokenizer
from lvlm_debias.embedded.training_settings import TrainSettings
from lvlm_debias.inputs.images import load_image
from lvlm_debias.inputs.probes import image_token_id
from lvlm_debias.models.prompts import LLAVA_HF, build_prompt, without_image
from lvlm_debias.world.scenes import WorldSpec, generate_world, render_scene

log = logging.getLogger(__name__)


def learning_rate(step: int, steps: int, peak: float, warmup_share: float) -> float:
    """Linear warm-up over the first ``warmup_share`` of a stage, then cosine decay from ``peak`` to ``peak / 10``."""
    warmup = max(1, int(warmup_share * steps))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def optimiser_step(optimiser: torch.optim.Optimizer, loss: torch.Tensor, params, grad_clip: float) -> float:
    """One update: gradients of ``loss``, their norm over ``params`` clipped to ``grad_clip``, a step; the loss."""
    optimiser.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, grad_clip)
    optimiser.step()
    return loss.item()


def encode(
    tokenizer, prompt: str, answer: str, image_id: int | None = None, image_tokens: int = 0
) -> tuple[list[int], list[int]]:
    """Token ids of ``prompt`` + ``answer`` + eos, and labels that score only the answer and eos (-100 elsewhere).

    With ``image_id`` given, the image token is expanded to ``image_tokens`` copies, as the processor does.
    """
    prompt_ids = tokenizer(prompt)["input_ids"]
    if image_id is not None:
        prompt_ids = [t for tok in prompt_ids for t in ([tok] * image_tokens if tok == image_id else [tok])]
    answer_ids = tokenizer(" " + answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids


def right_pad(rows: Sequence[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Batch of (ids, labels) rows padded on the right; padding is masked and not scored."""
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (ids, lab) in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, : len(lab)] = torch.tensor(lab)
        mask[i, : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


class BatchSampler:
    """Draws training batches of ``size`` rows from ``rows`` (token-id lists), uniformly with replacement.

    With ``group_by_length``, a batch's first row is drawn uniformly and the rest uniformly among the rows of its
    length bucket (lengths ``bucket`` tokens wide): every row is still drawn with the same probability, but a batch
    of 32-token existence questions is no longer padded to the 57 tokens of a lettered question that happens to be
    among them (HF Trainer's ``group_by_length`` serves the same end).
    """

    def __init__(self, rows: Sequence[Sequence[int]], size: int, group_by_length: bool, bucket: int = 8) -> None:
        self.n, self.size = len(rows), size
        self.bucket_of = np.array([(len(r) - 1) // bucket for r in rows]) if group_by_length else None
        self.members = (
            {b: np.flatnonzero(self.bucket_of == b) for b in np.unique(self.bucket_of)} if group_by_length else {}
        )

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        if self.bucket_of is None:
            return rng.integers(self.n, size=self.size)
        first = int(rng.integers(self.n))
        members = self.members[self.bucket_of[first]]
        return np.concatenate([[first], members[rng.integers(len(members), size=self.size - 1)]])


def vision_targets(scenes: Sequence[Mapping], shapes: Sequence[str], colours: Sequence[str]) -> torch.Tensor:
    """Multi-hot targets per scene: which shapes are present, then which (shape, colour) pairs are present."""
    targets = torch.zeros(len(scenes), len(shapes) * (1 + len(colours)))
    for i, scene in enumerate(scenes):
        for obj in scene["objects"]:
            s, c = shapes.index(obj["shape"]), colours.index(obj["colour"])
            targets[i, s] = 1.0
            targets[i, len(shapes) + s * len(colours) + c] = 1.0
    return targets


def patch_targets(
    scenes: Sequence[Mapping],
    shapes: Sequence[str],
    colours: Sequence[str],
    image_size: int,
    patch_size: int,
    cover: float = 0.25,
) -> torch.Tensor:
    """Per-patch multi-hot targets (N, patches, shapes + colours), patches in row-major order as CLIP lays them out.

    An object marks its shape and its colour on every patch that its bounding box (centre ``x``, ``y``, side
    ``size``) overlaps by at least ``cover`` times the smaller of the patch area and the box area, so that a small
    object still marks the patch it sits in. Hard objects count as any other: the labels say what is there.
    """
    grid = image_size // patch_size
    out = torch.zeros(len(scenes), grid * grid, len(shapes) + len(colours))
    cells = np.arange(grid) * patch_size
    for n, scene in enumerate(scenes):
        for obj in scene["objects"]:
            half = obj["size"] / 2
            # overlap of the box with each patch row (y) and column (x), in pixels
            over_y = np.minimum(obj["y"] + half, cells + patch_size) - np.maximum(obj["y"] - half, cells)
            over_x = np.minimum(obj["x"] + half, cells + patch_size) - np.maximum(obj["x"] - half, cells)
            overlap = np.outer(np.clip(over_y, 0, None), np.clip(over_x, 0, None))
            hit = overlap >= cover * min(patch_size**2, obj["size"] ** 2)
            where = torch.from_numpy(np.flatnonzero(hit))
            out[n, where, shapes.index(obj["shape"])] = 1.0
            out[n, where, len(shapes) + colours.index(obj["colour"])] = 1.0
    return out


def pretrain_vision(
    vision_tower: torch.nn.Module,
    pixels: torch.Tensor,
    targets: torch.Tensor,
    settings: TrainSettings,
    rng: np.random.Generator,
    dense_targets: torch.Tensor | None = None,
) -> list[float]:
    """Stage 0, the stand-in for CLIP pretraining: multi-label classification of the objects (and their colours)
    from the max over patch features and/or the CLS token (``settings.vision_pooling``), with linear heads that are
    thrown away afterwards. It runs on its own stream of rendered scenes (as CLIP sees far more images than
    instruction tuning does).

    With ``dense_targets`` (from :func:`patch_targets`) and ``settings.vision_dense_weight`` > 0, a linear head on
    every patch token also learns which shape and colour cover that patch, weighted by ``vision_dense_weight``. The
    image-level loss alone leaves the tower blind to most objects in this small model (a linear probe of its features
    found 0.45 of the easy objects, measured); per-patch labels put the evidence where the language model reads it.
    """
    hidden_size = vision_tower.config.hidden_size
    heads = {
        pooling: torch.nn.Linear(hidden_size, targets.shape[1])
        for pooling in (("max", "cls") if settings.vision_pooling == "both" else (settings.vision_pooling,))
    }
    dense = dense_targets is not None and settings.vision_dense_weight > 0
    dense_head = torch.nn.Linear(hidden_size, dense_targets.shape[-1]) if dense else None
    params = [*vision_tower.parameters(), *(p for head in heads.values() for p in head.parameters())]
    if dense_head is not None:
        params += list(dense_head.parameters())
    peak = settings.vision_learning_rate
    optimiser = torch.optim.AdamW(params, lr=peak, weight_decay=0.0)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    losses = []
    for i in tqdm(range(settings.vision_steps), desc="stage 0: vision pretraining", mininterval=5):
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(i, settings.vision_steps, peak, settings.warmup_share)
        pick = torch.from_numpy(rng.integers(len(pixels), size=2 * settings.batch_size))
        hidden = vision_tower(pixels[pick]).last_hidden_state
        features = {"max": hidden[:, 1:].amax(dim=1), "cls": hidden[:, 0]}
        loss = sum(bce(head(features[pooling]), targets[pick]) for pooling, head in heads.items())
        if dense_head is not None:
            loss = loss + settings.vision_dense_weight * bce(dense_head(hidden[:, 1:]), dense_targets[pick])
        losses.append(optimiser_step(optimiser, loss, params, settings.grad_clip))
    return losses


def align_projector(
    model: LlavaForConditionalGeneration,
    features: torch.Tensor,
    presence: torch.Tensor,
    word_ids: Sequence[int],
    settings: TrainSettings,
    rng: np.random.Generator,
) -> list[float]:
    """Feature alignment (LLaVA's first stage trains only the projector): the projector learns to put each image's
    objects where the language model reads their words. For each image and shape word, the largest cosine similarity
    between a projected image token and the word's input embedding (scaled and shifted by two learned scalars, as
    CLIP scales its similarities) is trained to say whether that shape is in the image (``presence``, N x shapes).
    The language model and its embeddings stay as stage a left them; the scalars are thrown away."""
    projector = model.model.multi_modal_projector
    words = torch.nn.functional.normalize(model.get_input_embeddings().weight[list(word_ids)].detach(), dim=-1)
    scale, shift = torch.nn.Parameter(torch.tensor(2.0)), torch.nn.Parameter(torch.tensor(0.0))
    params = [*projector.parameters(), scale, shift]
    peak = settings.align_learning_rate
    optimiser = torch.optim.AdamW(params, lr=peak, weight_decay=0.0)
    losses = []
    for i in tqdm(range(settings.align_steps), desc="stage a2: projector alignment", mininterval=5):
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(i, settings.align_steps, peak, settings.warmup_share)
        pick = torch.from_numpy(rng.integers(len(features), size=2 * settings.batch_size))
        tokens = torch.nn.functional.normalize(projector(features[pick]), dim=-1)
        similarity = torch.einsum("bth,sh->bts", tokens, words).amax(dim=1)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(similarity * scale.exp() + shift, presence[pick])
        losses.append(optimiser_step(optimiser, loss, params, settings.grad_clip))
    return losses


@torch.no_grad()
def tower_features(model: LlavaForConditionalGeneration, pixels: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """What the frozen vision tower hands the projector for each image: the hidden states of the config's
    ``vision_feature_layer``, the CLS token dropped under the "default" strategy (as ``get_image_features`` does)."""
    config = model.config
    out = []
    for start in range(0, len(pixels), batch_size):
        hidden = model.model.vision_tower(pixels[start : start + batch_size], output_hidden_states=True).hidden_states
        selected = hidden[config.vision_feature_layer]
        out.append(selected[:, 1:] if config.vision_feature_select_strategy == "default" else selected)
    return torch.cat(out)


def embeds_with_image_features(
    model: LlavaForConditionalGeneration, input_ids: torch.Tensor, features: torch.Tensor
) -> torch.Tensor:
    """Input embeddings with the projected tower ``features`` in the image-token positions, as LLaVA's forward builds
    them from pixels; lets a frozen tower run once per image instead of once per training step."""
    embeds = model.get_input_embeddings()(input_ids)
    image = model.model.multi_modal_projector(features).to(embeds.dtype)
    mask = (input_ids == model.config.image_token_id).unsqueeze(-1)
    return embeds.masked_scatter(mask, image)


@dataclass
class TrainedModel:
    model: LlavaForConditionalGeneration
    processor: LlavaProcessor
    card: dict

    def save(self, out_dir: Path) -> None:
        """Write the checkpoint (safetensors), the processor and ``model_card.json`` into ``out_dir``."""
        import json

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(out_dir)
        self.processor.save_pretrained(out_dir)
        (out_dir / "model_card.json").write_text(json.dumps(self.card, indent=2) + "\n")


def save_vision_tower(model: LlavaForConditionalGeneration, path: Path) -> None:
    """Write the model's vision tower (its state dict, as safetensors) to ``path``."""
    from safetensors.torch import save_file

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.model.vision_tower.state_dict().items()}
    save_file(state, str(path))


def load_vision_tower(path: Path) -> dict[str, torch.Tensor]:
    """The vision-tower state dict that :func:`save_vision_tower` wrote to ``path``."""
    from safetensors.torch import load_file

    return load_file(str(path))


def train_tiny_llava(
    scenes: Sequence[Mapping],
    image_root: Path,
    world: WorldSpec,
    *,
    prior: Prior,
    spec: TinyLlavaSpec,
    settings: TrainSettings,
    seed: int,
    template: str = LLAVA_HF,
    vision_tower: Path | None = None,
) -> TrainedModel:
    """All training stages on the world's training ``scenes``; returns the model, its processor and its card.

    The card records wall and CPU seconds (all threads) in total and per stage (``stage_seconds``): this machine's
    cores are often shared, and CPU time says what the training costs where wall time says how long it waited.

    With ``vision_tower`` (a file written by :func:`save_vision_tower`), stage 0 is not run: the saved tower is
    loaded instead, and the random draws stage 0 would have made are drawn and discarded, so that every later stage
    sees the random stream it sees after stage 0. Nothing before stage 0 draws a number whose count depends on the
    prior's ``yes_rate``, so a tower saved from a run at one ``yes_rate`` is the tower that a run with the same
    seed, world and settings trains at any other, and loading it gives that run's model (tests/test_study.py).
    """
    started, started_cpu = time.perf_counter(), time.process_time()
    stage_seconds: dict[str, dict[str, float]] = {}
    clock = [started, started_cpu]

    def lap(stage: str) -> None:
        now, now_cpu = time.perf_counter(), time.process_time()
        stage_seconds[stage] = {"wall": round(now - clock[0], 1), "cpu": round(now_cpu - clock[1], 1)}
        clock[:] = [now, now_cpu]

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    shapes, colours = list(world.shapes), list(world.colours)
    tokenizer = build_tokenizer(vocabulary_texts(shapes, colours, [template, without_image(template)], scenes))
    processor = build_processor(spec, tokenizer)
    model = build_model(spec, tokenizer)
    image_id = image_token_id(processor)

    order = rng.permutation(len(scenes))
    n_heldout = int(round(settings.heldout_share * len(scenes)))
    heldout = [scenes[i] for i in order[:n_heldout]]
    train = [scenes[i] for i in order[n_heldout:]]

    n_task = int(round(settings.task_text_share * settings.text_corpus_size))
    corpus = text_examples(shapes, colours, prior, settings.text_corpus_size - n_task, rng)
    corpus += task_text_examples(train, colours, prior, n_task, rng)
    text_rows = [encode(tokenizer, without_image(build_prompt(template, q)), a) for q, a in corpus]
    visual = visual_examples(
        train, shapes, rng, settings.colour_questions, settings.visual_yes_share, settings.visual_negatives
    )
    n_visual_tasks = int(round(settings.task_visual_share / (1 - settings.task_visual_share) * len(visual)))
    visual += task_visual_examples(train, n_visual_tasks, rng)
    captions = caption_examples(train)
    visual_rows = [encode(tokenizer, build_prompt(template, q), a, image_id, spec.image_tokens) for _, q, a in visual]
    caption_rows = [
        encode(tokenizer, build_prompt(template, q), a, image_id, spec.image_tokens) for _, q, a in captions
    ]
    images = [load_image(image_root, scene) for scene in train]
    pixels = processor.image_processor(images, return_tensors="pt")["pixel_values"]
    log.info("%d text examples, %d visual examples on %d training images", len(text_rows), len(visual_rows), len(train))
    lap("data")

    optimiser = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=0.0)
    model.train()
    losses = {"vision": [], "text": [], "align": [], "visual": [], "caption": []}
    if vision_tower is not None:
        model.model.vision_tower.load_state_dict(load_vision_tower(vision_tower))
        for _ in range(settings.vision_steps):  # the draws of pretrain_vision, discarded
            rng.integers(settings.vision_images, size=2 * settings.batch_size)
        lap("vision")
    elif settings.vision_steps:
        stream = generate_world(world, settings.vision_images, seed + 1, "pretrain")
        stream_pixels = processor.image_processor(
            [render_scene(scene, world) for scene in tqdm(stream, desc="rendering stage-0 images", mininterval=5)],
            return_tensors="pt",
        )["pixel_values"]
        stream_dicts = [scene.to_dict() for scene in stream]
        targets = vision_targets(stream_dicts, shapes, colours)
        dense = None
        if settings.vision_dense_weight > 0:
            dense = patch_targets(
                stream_dicts, shapes, colours, spec.image_size, spec.patch_size, settings.vision_dense_cover
            )
        lap("vision_images")
        losses["vision"] = pretrain_vision(model.model.vision_tower, stream_pixels, targets, settings, rng, dense)
        lap("vision")
    features = None
    if settings.freeze_vision:  # LLaVA keeps CLIP frozen in both of its training stages
        model.model.vision_tower.requires_grad_(False)
        features = tower_features(model, pixels)  # a frozen tower sees each training image once
        lap("tower_features")

    samplers = {
        stage: BatchSampler([ids for ids, _ in rows], settings.batch_size, settings.group_by_length)
        for stage, rows in (("text", text_rows), ("visual", visual_rows), ("caption", caption_rows))
    }

    def step(stage: str, lr: float) -> float:
        for group in optimiser.param_groups:
            group["lr"] = lr
        pick = samplers[stage].draw(rng)
        if stage == "text":
            batch = right_pad([text_rows[i] for i in pick], tokenizer.pad_token_id)
        else:
            examples, rows = (captions, caption_rows) if stage == "caption" else (visual, visual_rows)
            batch = right_pad([rows[i] for i in pick], tokenizer.pad_token_id)
            images = [examples[i][0] for i in pick]
            if features is None:
                batch["pixel_values"] = pixels[images]
            else:
                batch["inputs_embeds"] = embeds_with_image_features(model, batch.pop("input_ids"), features[images])
        loss = model(**batch).loss
        return optimiser_step(optimiser, loss, model.parameters(), settings.grad_clip)

    peak, warmup = settings.learning_rate, settings.warmup_share
    for i in tqdm(range(settings.text_steps), desc="stage a: text-only pretraining", mininterval=5):
        losses["text"].append(step("text", learning_rate(i, settings.text_steps, peak, warmup)))
    lap("text")
    if settings.align_steps:
        if features is None:
            raise ValueError("training.align_steps needs freeze_vision: true (it reads the frozen tower's features)")
        presence = vision_targets(train, shapes, colours)[:, : len(shapes)]
        word_ids = [tokenizer.convert_tokens_to_ids(shape) for shape in shapes]
        losses["align"] = align_projector(model, features, presence, word_ids, settings, rng)
        lap("align")
    for i in tqdm(range(settings.visual_steps), desc="stage b: visual instruction tuning", mininterval=5):
        stage = "text" if rng.random() < settings.text_replay else "visual"
        losses[stage].append(step(stage, learning_rate(i, settings.visual_steps, peak, warmup)))
    lap("visual")
    for i in tqdm(range(settings.caption_steps), desc="stage c: caption tuning", mininterval=5):
        draw = rng.random()
        stage = (
            "text"
            if draw < settings.text_replay
            else "visual"
            if draw < settings.text_replay + settings.caption_replay
            else "caption"
        )
        losses[stage].append(step(stage, learning_rate(i, settings.caption_steps, peak, warmup)))
    lap("caption")
    model.eval()
    train_seconds, train_cpu_seconds = time.perf_counter() - started, time.process_time() - started_cpu

    card = {
        "model": "shapes-llava",
        "architecture": "LlavaForConditionalGeneration",
        "seed": seed,
        "prompt_template": template,
        "prior": asdict(prior),
        "spec": asdict(spec),
        "training": asdict(settings),
        "vision_tower": None if vision_tower is None else str(vision_tower),
        "training_images": len(train),
        "heldout_images": len(heldout),
        "heldout_image_ids": [scene["image_id"] for scene in heldout],
        "parameters": sum(p.numel() for p in model.parameters()),
        "threads": torch.get_num_threads(),
        "training_seconds": round(train_seconds, 1),
        "training_cpu_seconds": round(train_cpu_seconds, 1),
        "stage_seconds": stage_seconds,
        "final_loss": {k: float(np.mean(v[-50:])) if v else None for k, v in losses.items()},
    }
    return TrainedModel(model=model, processor=processor, card=card)
