"""Checks on the workflow configuration, and typed views of its sections.

The Snakefile calls :func:`check_schema` (every schema violation, one line each, naming the key and the allowed
values), then Snakemake's ``validate`` (which fills in defaults), then :func:`check_config` (what a schema cannot
express), so a bad value stops the run before any job.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path

import jsonschema
import yaml

from lvlm_debias.benchmarks import BENCHMARKS, FORMATS, benchmark, converter
from lvlm_debias.data.fetch import local_path
from lvlm_debias.embedded.corpus import Prior
from lvlm_debias.embedded.tiny_llava import TinyLlavaSpec
from lvlm_debias.embedded.training_settings import TrainSettings
from lvlm_debias.metrics.chair import synonym_table
from lvlm_debias.scoring.official import OfficialSettings
from lvlm_debias.settings import ConfigError
from lvlm_debias.world.scenes import world_spec

TRAINED_HERE = "train"
FROM_HUB = "hub"
FROM_URL = "url"
SHAPES_WORLD = "shapes_world"

#: keys that moved, and where to: a config that still has one is told where it went
MOVED = {
    "sweep.parser": "benchmarks.<name>.parser, one per yes/no benchmark (vcd or llava for POPE, mme for MME)",
}


def _key(path: Sequence) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _describe(error: jsonschema.ValidationError) -> str:
    """One line for a schema violation: the key, what is wrong, and what is allowed."""
    where = _key(error.absolute_path)
    schema = error.schema
    if error.validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        lines = []
        for key in extra:
            full = _key([*error.absolute_path, key])
            if full in MOVED:
                lines.append(f"{full}: moved to {MOVED[full]}")
                continue
            near = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            inside = f" in {where}" if error.absolute_path else ""
            if allowed:
                lines.append(f"{_key([*error.absolute_path, key])}: unknown key{inside}{hint}; allowed keys: {allowed}")
            else:
                lines.append(f"{_key([*error.absolute_path, key])}: {error.message}")
        return "\n".join(lines)
    if error.validator == "enum":
        return f"{where}: {error.instance!r} is not allowed; allowed values: {schema['enum']}"
    return f"{where}: {error.message}"


def check_schema(config: Mapping, schema: str | Path) -> None:
    """Raise :class:`ConfigError` listing every violation of the JSON schema at ``schema``, one line each."""
    document = yaml.safe_load(Path(schema).read_text())
    validator = jsonschema.Draft202012Validator(document)
    errors = sorted(validator.iter_errors(dict(config)), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        lines = "\n".join(f"  - {line}" for e in errors for line in _describe(e).splitlines())
        raise ConfigError(f"the config has {len(errors)} problem(s):\n{lines}")


def trained_models(config: Mapping) -> list[str]:
    """Names of the models trained here (``source: train``)."""
    return [name for name, entry in config["models"].items() if entry["source"] == TRAINED_HERE]


def hub_models(config: Mapping) -> list[str]:
    """Names of the models downloaded by the workflow (``source: hub``, with ``repo`` and ``revision``)."""
    return [name for name, entry in config["models"].items() if entry["source"] == FROM_HUB]


def model_dir(config: Mapping, model: str) -> str:
    """Where a model's checkpoint is: ``data/models/<model>`` when trained here, its ``repo`` id when downloaded
    by the workflow (loaded from the HF cache), else its local folder or hub id."""
    entry = config["models"][model]
    if entry["source"] == TRAINED_HERE:
        return f"data/models/{model}"
    return entry["repo"] if entry["source"] == FROM_HUB else entry["source"]


def datasets(config: Mapping) -> dict[str, dict]:
    """Every ``datasets`` entry: benchmarks downloaded (from the hub or from URLs) and converted to question files."""
    return dict(config.get("datasets") or {})


def hub_datasets(config: Mapping) -> dict[str, dict]:
    """The ``datasets`` entries downloaded from the hub (``source: hub``, the default; ``lvlm_debias.data.convert``)."""
    return {name: entry for name, entry in datasets(config).items() if entry.get("source", FROM_HUB) == FROM_HUB}


def url_datasets(config: Mapping) -> dict[str, dict]:
    """The ``datasets`` entries fetched from URLs (``source: url``; ``lvlm_debias.data.url_dataset``)."""
    return {name: entry for name, entry in datasets(config).items() if entry.get("source") == FROM_URL}


def check_sources(config: Mapping) -> None:
    """Raise :class:`ConfigError` when a hub model lacks ``repo``, a benchmark names a dataset that is neither
    ``shapes_world`` nor a ``datasets`` entry or a ``source: url`` dataset without being POPE, or a URL of a
    ``source: url`` dataset cannot name a local file (query, ``..`` segment)."""
    for name in hub_models(config):
        if not config["models"][name].get("repo"):
            raise ConfigError(f"models.{name}: source 'hub' needs `repo` (the hub repo id) and `revision`")
    entries = datasets(config)
    for name, settings in config["benchmarks"].items():
        dataset = settings.get("dataset")
        if dataset != SHAPES_WORLD and dataset not in entries:
            raise ConfigError(
                f"benchmarks.{name}.dataset {dataset!r} is neither {SHAPES_WORLD!r} nor an entry of `datasets` "
                f"({sorted(entries)})"
            )
    fetched = url_datasets(config)
    for name, settings in config["benchmarks"].items():
        dataset = settings.get("dataset")
        if dataset in fetched and benchmark(name).converter is not converter(fetched[dataset]["format"]):
            raise ConfigError(
                f"benchmarks.{name}.dataset {settings['dataset']!r} is a `source: url` dataset, which holds POPE "
                f"questions: only the POPE benchmarks (pope_coco, pope_aokvqa, pope_gqa) can use it"
            )
    for name, entry in fetched.items():
        for key, url in (("questions.url", entry["questions"]["url"]), ("images.url", entry["images"]["url"])):
            try:
                local_path(url.replace("{split}", "split"), ".")
            except ValueError as err:
                raise ConfigError(f"datasets.{name}.{key}: {err}") from err


def check_config(config: Mapping) -> None:
    """Raise :class:`ConfigError` naming the key of the first inconsistency the schema cannot catch."""
    spec = world_spec(config)
    for name in trained_models(config):
        entry = config["models"][name]
        key = f"models.{name}"
        try:
            prior = Prior(**entry.get("prior", {}))
            prior.colour_distribution(spec.colours)
            arch = TinyLlavaSpec.from_dict(entry.get("architecture", {}))
            TrainSettings.from_dict(entry.get("training", {}))
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{key}: {err}") from err
        if arch.image_size % arch.patch_size:
            raise ConfigError(
                f"{key}.architecture.patch_size {arch.patch_size} must divide image_size {arch.image_size}"
            )
        if arch.image_size != spec.image_size:
            raise ConfigError(
                f"{key}.architecture.image_size {arch.image_size} differs from world.image_size {spec.image_size}"
            )
        for layer_key, heads_key in (("vision_hidden", "vision_heads"), ("text_hidden", "text_heads")):
            if getattr(arch, layer_key) % getattr(arch, heads_key):
                raise ConfigError(f"{key}.architecture.{heads_key} must divide {layer_key}")
    check_sources(config)
    for name, settings in config["benchmarks"].items():
        if settings.get("dataset") != SHAPES_WORLD:
            continue
        if settings.get("n_images", 0) > config["world"].get("n_eval_images", 0):
            raise ConfigError(
                f"benchmarks.{name}.n_images {settings['n_images']} exceeds world.n_eval_images "
                f"{config['world'].get('n_eval_images')}"
            )
    _check_generation(config)
    _check_official(config)
    _check_study(config)


def _check_study(config: Mapping) -> None:
    """The study's model must be a trained entry (the study trains its recipe at every yes_rate and seed)."""
    study = config.get("study")
    if study and study["model"] not in trained_models(config):
        raise ConfigError(
            f"study.model {study['model']!r} must name a `source: train` entry of models; trained: "
            f"{trained_models(config)}"
        )


def _check_official(config: Mapping) -> None:
    """The official reading's settings against what scoring stores (it reads the top 10 of ``store_top`` logits)."""
    scoring = config.get("scoring", {})
    if "official" not in scoring.get("readings", []):
        return
    try:
        settings = OfficialSettings.from_dict(scoring.get("official", {}))
    except (TypeError, ValueError) as err:
        raise ConfigError(f"scoring.official: {err}") from err
    store_top = scoring.get("store_top", 100)
    read_top = max(b.official.read_top for b in BENCHMARKS.values() if b.official)
    if store_top < max(read_top, settings.top_k):
        raise ConfigError(
            f"scoring.store_top {store_top} is below what the official reading reads (the top {read_top} tokens"
            f"{f', top_k {settings.top_k}' if settings.top_k else ''}): raise scoring.store_top"
        )


def _check_generation(config: Mapping) -> None:
    """The generation section against the rest: images, CHAIR vocabulary, benchmarks, the sweep for "best"."""
    generation = config.get("generation")
    if not generation:
        return
    captions = generation.get("captions")
    if captions:
        n_images, n_eval = captions.get("n_images", 100), config["world"].get("n_eval_images", 0)
        if captions["dataset"] == SHAPES_WORLD and n_images > n_eval:
            raise ConfigError(f"generation.captions.n_images {n_images} exceeds world.n_eval_images {n_eval}")
        missing = [s for s in config["world"]["shapes"] if s not in captions["objects"]]
        if captions["dataset"] == SHAPES_WORLD and missing:
            raise ConfigError(
                f"generation.captions.objects lacks the world's shapes {missing}: CHAIR needs every ground-truth object"
            )
        try:
            synonym_table(captions["objects"])
        except ValueError as err:
            raise ConfigError(f"generation.captions.objects: {err}") from err
    classification = generation.get("classification") or {}
    unknown = [b for b in classification.get("benchmarks", []) if b not in config["benchmarks"]]
    if unknown:
        raise ConfigError(
            f"generation.classification.benchmarks names {unknown}, which are not configured under benchmarks "
            f"({list(config['benchmarks'])})"
        )
    open_ended = generation.get("open_ended")
    if open_ended:
        name, entries = open_ended["dataset"], config.get("datasets") or {}
        if name not in entries:
            raise ConfigError(
                f"generation.open_ended.dataset {name!r} is not configured under datasets ({list(entries)})"
            )
        open_formats = [f for f, c in FORMATS.items() if c.open_ended]
        if entries[name].get("format") not in open_formats:
            raise ConfigError(
                f"generation.open_ended.dataset {name!r} has format {entries[name].get('format')!r}: open-ended "
                f"answers need an open-ended benchmark (format {' or '.join(open_formats)})"
            )
    if "best" in generation.get("settings", ["default", "best"]) and not config.get("sweep"):
        raise ConfigError("generation.settings 'best' needs the sweep section (the best configuration comes from it)")
