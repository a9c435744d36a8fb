"""Building a settings dataclass from a config section, rejecting keys it does not know."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import TypeVar

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
