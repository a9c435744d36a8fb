"""The schema is the one place a default is written: no rule, script or library module spells a schema default again
as a ``.get(key, fallback)`` fallback (Snakemake's ``validate`` has filled it in before any rule reads the config)."""

from __future__ import annotations

import re

import yaml
from conftest import ROOT

#: ``.get("key", <fallback>)`` with a literal fallback (a number, string, bool, list or dict).
FALLBACK = re.compile(
    r"""\.get\(\s*["']([a-z_]+)["']\s*,\s*(-?[\d.]+|True|False|"[^"]*"|'[^']*'|\[[^\]]*\]|\{[^}]*\})\s*\)"""
)


def schema_defaults() -> dict[str, list]:
    """Every property of config/schema.yaml that has a default: name -> its defaults (a name may recur in sections)."""
    out: dict[str, list] = {}

    def walk(node: dict) -> None:
        for key, sub in node.get("properties", {}).items():
            if "default" in sub:
                out.setdefault(key, []).append(sub["default"])
            walk(sub)
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                walk(node[key])

    walk(yaml.safe_load((ROOT / "config/schema.yaml").read_text()))
    return out


def fallbacks(text: str, defaults: dict[str, list]) -> list[str]:
    """The ``.get`` fallbacks in ``text`` whose key is a schema property with a default."""
    return [m.group(0) for m in FALLBACK.finditer(text) if m.group(1) in defaults]


FILES = sorted([*(ROOT / "workflow").rglob("*.smk"), *(ROOT / "workflow" / "scripts").glob("*.py"), ROOT / "Snakefile"])


def test_no_rule_or_script_repeats_a_schema_default():
    defaults = schema_defaults()
    found = {str(f.relative_to(ROOT)): fallbacks(f.read_text(), defaults) for f in FILES}
    assert not {f: hits for f, hits in found.items() if hits}


def test_the_scan_finds_a_repeated_default():
    defaults = schema_defaults()
    assert defaults["batch_size"] and defaults["skip_bad_records"] == [False]
    text = 'x = SCORING.get("batch_size", 64)\ny = SCORING.get("skip_bad_records", False)\nz = q.get("subset", "")\n'
    assert fallbacks(text, defaults) == ['.get("batch_size", 64)', '.get("skip_bad_records", False)']
