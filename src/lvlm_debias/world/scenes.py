"""A synthetic image world of coloured shapes with known ground truth.

Each image shows a few shapes on a light grey background. Shapes are drawn from
"scenes", groups of shapes that tend to appear together, and scenes have unequal
weights, so the world has the two statistical regularities POPE probes: some
objects are popular and some pairs co-occur. A share of objects is made hard to
see (small, low contrast or partly occluded), so that a model's answers about
them lean on those priors rather than on the pixels.

Everything is a pure function of a ``WorldSpec`` and an explicit seed or
``numpy.random.Generator``; rendering depends on the ``Scene`` alone.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import tempfile
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

from lvlm_debias.data.jsonl import write_jsonl
from lvlm_debias.settings import ConfigError, schema_default

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 30, 35),
    "green": (30, 160, 60),
    "blue": (35, 75, 220),
    "yellow": (240, 205, 20),
    "purple": (135, 50, 185),
    "orange": (245, 125, 20),
    "cyan": (20, 185, 200),
    "pink": (240, 110, 180),
    "brown": (125, 75, 35),
}
HARD_KINDS: tuple[str, ...] = ("small", "low_contrast", "occluded")
NORMAL_SIZE = (0.28, 0.40)  # object size as a fraction of the image side
SMALL_SIZE = (0.12, 0.16)
LOW_CONTRAST_BLEND = 0.7  # share of the background colour in a low-contrast object
OCCLUDER_GREY = (120, 120, 120)
SUPERSAMPLE = 4
NOISE_STD = 2.5
PLACEMENT_ATTEMPTS = 60


def _regular_polygon(n: int, start_degrees: float, y_scale: float = 1.0) -> tuple[tuple[float, float], ...]:
    step = 2 * math.pi / n
    start = math.radians(start_degrees)
    return tuple((math.cos(start + i * step), y_scale * math.sin(start + i * step)) for i in range(n))


def _star(points: int = 5, inner: float = 0.42) -> tuple[tuple[float, float], ...]:
    vertices = []
    for i in range(2 * points):
        radius = 1.0 if i % 2 == 0 else inner
        angle = -math.pi / 2 + i * math.pi / points
        vertices.append((radius * math.cos(angle), radius * math.sin(angle) + 0.1))
    return tuple(vertices)


def _heart(n: int = 48) -> tuple[tuple[float, float], ...]:
    raw = []
    for i in range(n):
        t = 2 * math.pi * i / n
        x = 16 * math.sin(t) ** 3
        y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
        raw.append((x / 16.5, -(y + 2.5) / 15.0))
    return tuple(raw)


# Unit outlines in [-1, 1]^2 (image coordinates: y grows downwards).
_POLYGONS: dict[str, tuple[tuple[float, float], ...]] = {
    "square": ((-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8)),
    "triangle": ((0.0, -0.95), (1.0, 0.8), (-1.0, 0.8)),
    "star": _star(),
    "cross": (
        (-0.3, -1.0),
        (0.3, -1.0),
        (0.3, -0.3),
        (1.0, -0.3),
        (1.0, 0.3),
        (0.3, 0.3),
        (0.3, 1.0),
        (-0.3, 1.0),
        (-0.3, 0.3),
        (-1.0, 0.3),
        (-1.0, -0.3),
        (-0.3, -0.3),
    ),
    "heart": _heart(),
    "diamond": ((0.0, -1.0), (0.62, 0.0), (0.0, 1.0), (-0.62, 0.0)),
    # Flattened so that it stays distinct from a circle at 64 x 64 pixels.
    "hexagon": _regular_polygon(6, 0.0, y_scale=0.8),
}
# Round shapes: (dx, dy, radius, fill) discs in unit coordinates, painted in order.
_DISCS: dict[str, tuple[tuple[float, float, float, int], ...]] = {
    "circle": ((0.0, 0.0, 0.95, 255),),
    "ring": ((0.0, 0.0, 0.95, 255), (0.0, 0.0, 0.55, 0)),
    "moon": ((0.0, 0.0, 0.95, 255), (0.45, -0.25, 0.8, 0)),
}
SHAPE_NAMES: tuple[str, ...] = (
    "circle",
    "square",
    "triangle",
    "star",
    "cross",
    "heart",
    "diamond",
    "hexagon",
    "ring",
    "moon",
)


@dataclass(frozen=True)
class WorldSpec:
    """Parameters of the shapes world; validated on construction."""

    image_size: int = schema_default("world.image_size")
    shapes: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "heart", "diamond", "hexagon")
    colours: tuple[str, ...] = ("red", "green", "blue", "yellow", "purple", "orange")
    min_objects: int = schema_default("world.min_objects")
    max_objects: int = schema_default("world.max_objects")
    hard_share: float = schema_default("world.hard_share")
    scenes: tuple[tuple[str, ...], ...] = (
        ("circle", "square", "triangle"),
        ("star", "heart", "diamond"),
        ("cross", "hexagon", "circle"),
    )
    scene_weights: tuple[float, ...] = (0.5, 0.3, 0.2)
    in_scene_rate: float = schema_default("world.in_scene_rate")

    def __post_init__(self) -> None:
        if self.image_size < 32:
            raise ValueError(f"WorldSpec.image_size must be >= 32, got {self.image_size}")
        _check_names("shapes", self.shapes, SHAPE_NAMES)
        _check_names("colours", self.colours, tuple(COLOURS))
        if len(self.colours) < 2:
            raise ValueError(f"WorldSpec.colours needs at least 2 colours, got {self.colours!r}")
        if not 1 <= self.min_objects <= self.max_objects:
            raise ValueError(
                f"WorldSpec.min_objects must satisfy 1 <= min_objects <= max_objects, "
                f"got min_objects={self.min_objects}, max_objects={self.max_objects}"
            )
        if self.max_objects > len(self.shapes):
            raise ValueError(
                f"WorldSpec.max_objects must be <= the number of shapes ({len(self.shapes)}), got {self.max_objects}"
            )
        for name in ("hard_share", "in_scene_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"WorldSpec.{name} must lie in [0, 1], got {value}")
        if not self.scenes:
            raise ValueError("WorldSpec.scenes must hold at least one scene, got ()")
        for index, group in enumerate(self.scenes):
            if not group:
                raise ValueError(f"WorldSpec.scenes[{index}] is empty")
            for shape in group:
                if shape not in self.shapes:
                    raise ValueError(f"WorldSpec.scenes[{index}]: shape {shape!r} is not in WorldSpec.shapes")
        if len(self.scene_weights) != len(self.scenes):
            raise ValueError(
                f"WorldSpec.scene_weights must have one weight per scene ({len(self.scenes)}), "
                f"got {len(self.scene_weights)}: {self.scene_weights!r}"
            )
        if any(w < 0 for w in self.scene_weights) or sum(self.scene_weights) <= 0:
            raise ValueError(
                f"WorldSpec.scene_weights must be non-negative with a positive sum, got {self.scene_weights!r}"
            )

    @classmethod
    def from_dict(cls, config: dict) -> WorldSpec:
        """Build a spec from a config mapping (lists become tuples); unknown keys are an error."""
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(set(config) - set(allowed))
        if unknown:
            raise ValueError(f"WorldSpec: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
        values = {}
        for key, value in config.items():
            if key == "scenes":
                value = tuple(tuple(group) for group in value)
            elif isinstance(value, list):
                value = tuple(value)
            values[key] = value
        return cls(**values)


def _check_names(field_name: str, names: tuple[str, ...], known: tuple[str, ...]) -> None:
    for name in names:
        if name not in known:
            raise ValueError(f"WorldSpec.{field_name}: unknown {field_name[:-1]} {name!r}; known: {', '.join(known)}")
    if len(set(names)) != len(names):
        raise ValueError(f"WorldSpec.{field_name} must not repeat a name, got {names!r}")


@dataclass(frozen=True)
class WorldObject:
    """One shape in an image: centre (x, y) and size (bounding extent) in pixels, and how it is hard to see."""

    shape: str
    colour: str
    x: float
    y: float
    size: float
    hard: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Scene:
    """The ground truth of one image."""

    image_id: str
    split: str
    scene: int
    objects: tuple[WorldObject, ...]

    def to_dict(self) -> dict:
        return {
            "image_id": self.image_id,
            "split": self.split,
            "scene": self.scene,
            "objects": [obj.to_dict() for obj in self.objects],
        }

    @classmethod
    def from_dict(cls, record: dict) -> Scene:
        """Inverse of ``to_dict``; extra keys (such as ``image``) are ignored."""
        return cls(
            image_id=record["image_id"],
            split=record["split"],
            scene=int(record["scene"]),
            objects=tuple(WorldObject(**obj) for obj in record["objects"]),
        )


def _pick_shapes(spec: WorldSpec, rng: np.random.Generator, scene_index: int, n: int) -> list[str]:
    """Distinct shapes; each comes from the scene's group with probability ``in_scene_rate``."""
    chosen: list[str] = []
    group = spec.scenes[scene_index]
    for _ in range(n):
        in_scene = rng.random() < spec.in_scene_rate
        pool = [s for s in group if s not in chosen] if in_scene else []
        if not pool:
            pool = [s for s in spec.shapes if s not in chosen]
        chosen.append(pool[int(rng.integers(len(pool)))])
    return chosen


def _place(
    size: float, placed: list[tuple[float, float, float]], image_size: int, rng: np.random.Generator
) -> tuple[float, float]:
    """A centre inside the image, clear of the placed (x, y, size) objects if the tries find one."""
    low, high = size / 2 + 1, image_size - size / 2 - 1
    best, best_gap = (image_size / 2, image_size / 2), -math.inf
    for _ in range(PLACEMENT_ATTEMPTS):
        x, y = rng.uniform(low, high, size=2)
        # 0.6 * (s1 + s2) keeps the corners of square-ish shapes apart too.
        gap = min((math.hypot(x - px, y - py) - 0.6 * (size + ps) for px, py, ps in placed), default=math.inf)
        if gap > best_gap:
            best, best_gap = (float(x), float(y)), gap
        if gap >= 0:
            break
    return best


def sample_scene(spec: WorldSpec, rng: np.random.Generator, image_id: str, split: str) -> Scene:
    """Draw one image's ground truth: a scene by weight, 1..n distinct shapes, colours, sizes, places, hardness."""
    weights = np.asarray(spec.scene_weights, dtype=float)
    scene_index = int(rng.choice(len(spec.scenes), p=weights / weights.sum()))
    n_objects = int(rng.integers(spec.min_objects, spec.max_objects + 1))
    placed: list[tuple[float, float, float]] = []
    objects = []
    for shape in _pick_shapes(spec, rng, scene_index, n_objects):
        colour = spec.colours[int(rng.integers(len(spec.colours)))]
        hard = HARD_KINDS[int(rng.integers(len(HARD_KINDS)))] if rng.random() < spec.hard_share else None
        size = round(float(rng.uniform(*(SMALL_SIZE if hard == "small" else NORMAL_SIZE))) * spec.image_size, 2)
        x, y = _place(size, placed, spec.image_size, rng)
        x, y = round(x, 2), round(y, 2)
        placed.append((x, y, size))
        objects.append(WorldObject(shape=shape, colour=colour, x=x, y=y, size=size, hard=hard))
    return Scene(image_id=image_id, split=split, scene=scene_index, objects=tuple(objects))


def generate_world(spec: WorldSpec, n_images: int, seed: int | np.random.SeedSequence, split: str) -> list[Scene]:
    """``n_images`` scenes with ids ``f"{split}_{i:05d}"``, drawn from one generator seeded by ``seed``."""
    rng = np.random.default_rng(seed)
    return [sample_scene(spec, rng, f"{split}_{i:05d}", split) for i in range(n_images)]


def _shape_mask(shape: str, cx: float, cy: float, radius: float, side: int) -> Image.Image:
    """An 'L' mask of ``side`` x ``side`` pixels with ``shape`` centred at (cx, cy), 255 inside."""
    mask = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(mask)
    if shape in _POLYGONS:
        draw.polygon([(cx + radius * u, cy + radius * v) for u, v in _POLYGONS[shape]], fill=255)
    else:
        for dx, dy, r, fill in _DISCS[shape]:
            x, y = cx + radius * dx, cy + radius * dy
            draw.ellipse((x - radius * r, y - radius * r, x + radius * r, y + radius * r), fill=fill)
    return mask


def _occluder(obj: WorldObject, rng: np.random.Generator, scale: int) -> tuple[float, float, float, float]:
    """A rectangle covering 40-60 % of the object's box from a random side, in supersampled pixels."""
    half = obj.size * scale / 2
    cx, cy = obj.x * scale, obj.y * scale
    left, top, right, bottom = cx - half * 1.1, cy - half * 1.1, cx + half * 1.1, cy + half * 1.1
    cover = 2 * half * float(rng.uniform(0.4, 0.6))
    side = int(rng.integers(4))
    if side == 0:
        return (left, top, cx - half + cover, bottom)
    if side == 1:
        return (cx + half - cover, top, right, bottom)
    if side == 2:
        return (left, top, right, cy - half + cover)
    return (left, cy + half - cover, right, bottom)


def render_scene(scene: Scene, spec: WorldSpec) -> Image.Image:
    """Render ``scene`` as an RGB image of ``spec.image_size`` pixels.

    The background is a light grey whose tone and pixel noise are seeded by
    ``crc32(image_id)``, so the result depends on the scene alone. Shapes are
    drawn at 4x resolution and downsampled with LANCZOS. Hard objects are drawn
    small (their size says so), blended 70 % towards the background, or half
    covered by a grey rectangle.
    """
    rng = np.random.default_rng(zlib.crc32(scene.image_id.encode("utf-8")))
    level = int(rng.integers(195, 226))
    background = np.clip(level + rng.integers(-6, 7, size=3), 0, 255)
    side = spec.image_size * SUPERSAMPLE
    canvas = Image.new("RGB", (side, side), tuple(int(c) for c in background))
    draw = ImageDraw.Draw(canvas)
    for obj in scene.objects:
        colour = np.asarray(COLOURS[obj.colour], dtype=float)
        if obj.hard == "low_contrast":
            colour = (1 - LOW_CONTRAST_BLEND) * colour + LOW_CONTRAST_BLEND * background
        mask = _shape_mask(obj.shape, obj.x * SUPERSAMPLE, obj.y * SUPERSAMPLE, obj.size * SUPERSAMPLE / 2, side)
        canvas.paste(tuple(int(round(c)) for c in colour), (0, 0, side, side), mask)
        if obj.hard == "occluded":
            draw.rectangle(_occluder(obj, rng, SUPERSAMPLE), fill=OCCLUDER_GREY)
    small = np.asarray(canvas.resize((spec.image_size, spec.image_size), Image.Resampling.LANCZOS), dtype=float)
    noisy = small + rng.normal(0.0, NOISE_STD, size=small.shape[:2] + (1,))
    return Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8), mode="RGB")


def write_world(out_dir: str | Path, spec: WorldSpec, n_train: int, n_eval: int, seed: int) -> None:
    """Write ``out_dir/images/<image_id>.png`` and ``out_dir/annotations.jsonl`` for a train and an eval split.

    The two splits use independent seeds spawned from ``seed``. Each annotation
    record is ``{"image": "images/<id>.png", "image_id", "split", "scene", "objects"}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".images.", dir=out))  # renamed to images/ once every image is written
    train_seed, eval_seed = np.random.SeedSequence(seed).spawn(2)
    scenes = generate_world(spec, n_train, train_seed, "train") + generate_world(spec, n_eval, eval_seed, "eval")
    records = []
    try:
        for scene in tqdm(scenes, desc="rendering shapes world", unit="image", file=sys.stderr):
            render_scene(scene, spec).save(staging / f"{scene.image_id}.png")
            records.append({"image": f"images/{scene.image_id}.png", **scene.to_dict()})
        staging.chmod(0o755)
        if (out / "images").exists():
            shutil.rmtree(out / "images")
        os.replace(staging, out / "images")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write_jsonl(out / "annotations.jsonl", records)


#: keys of ``world`` that configure the generator (the rest are image counts).
WORLD_COUNTS = ("n_train_images", "n_eval_images")


def world_spec(config: Mapping) -> WorldSpec:
    """The ShapesWorld generator settings of ``config["world"]``."""
    world = {k: v for k, v in config["world"].items() if k not in WORLD_COUNTS}
    try:
        return WorldSpec.from_dict(world)
    except ValueError as err:
        raise ConfigError(f"world: {err}") from err
