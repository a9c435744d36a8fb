"""Building a settings dataclass from a config section, rejecting keys it does not know."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import fields
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

import yaml

T = TypeVar("T")


def from_section(cls: type[T], values: Mapping, section: str) -> T:
    """``cls(**values)``, or a ValueError naming the unknown keys of config ``section`` and the allowed ones."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {section} keys {unknown}; allowed: {sorted(known)}")
    return cls(**values)


class ConfigError(ValueError):
    """A bad config value; the message names the key."""


#: the workflow's config schema, the one place a default is written (the package is installed editable from its clone)
SCHEMA = Path(__file__).resolve().parents[2] / "config" / "schema.yaml"


@lru_cache(maxsize=1)
def _schema() -> dict:
    if not SCHEMA.is_file():
        raise FileNotFoundError(
            f"lvlm_debias reads its defaults from {SCHEMA}, which is missing: install the package from its clone "
            f"with `pip install -e .` (or `make install`)"
        )
    return yaml.safe_load(SCHEMA.read_text())


def schema_default(path: str):
    """The default config/schema.yaml writes for the property at dotted ``path`` (``world.image_size``); ``*`` steps
    into an entry of a keyed section (``models.*.prior.yes_rate``: ``additionalProperties``) or of a list (``items``).
    Library signatures and settings dataclasses take their defaults from here, so none is written twice."""
    node = _schema()
    for step in path.split("."):
        nxt = (
            node.get("additionalProperties") or node.get("items")
            if step == "*"
            else node.get("properties", {}).get(step)
        )
        if not isinstance(nxt, dict):
            raise KeyError(f"{SCHEMA} has no property {path!r} (no {step!r})")
        node = nxt
    if "default" not in node:
        raise KeyError(f"{SCHEMA} writes no default for {path!r}")
    return node["default"]


@contextmanager
def registered_in(registry: dict, name: str, entry, kind: str) -> Iterator:
    """``registry`` with ``entry`` added under ``name`` for the ``with`` block, then as before (a name already
    registered fails, naming the ``kind`` of entry)."""
    if name in registry:
        raise ValueError(f"{kind} {name!r} is already registered")
    registry[name] = entry
    try:
        yield entry
    finally:
        del registry[name]
