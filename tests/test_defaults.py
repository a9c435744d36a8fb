"""The schema is the one place a default is written: no rule, script or library module spells a schema default again
as a ``.get(key, fallback)`` fallback (Snakemake's ``validate`` has filled it in before any rule reads the config)."""

from __future__ import annotations

import ast
import re

import pytest
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


#: a signature's parameter named differently from its schema property
ALIASES = {"resamples": "bootstrap_resamples"}


def _literal(node: ast.expr):
    try:
        return ast.literal_eval(node)
    except ValueError:
        return _literal  # not a literal: equal to no default


def repeated_signature_defaults(text: str, defaults: dict[str, list]) -> list[tuple[str, str, object]]:
    """``(function or class, name, default)`` for every parameter of a function, and every annotated field of a
    class (a dataclass's), in ``text`` named like a schema property (or its alias) whose literal default equals one of
    that property's schema defaults. A default read with ``settings.schema_default`` is no literal: it passes."""
    out = []

    def check(owner: str, name: str, default: ast.expr) -> None:
        value = _literal(default)
        schema = defaults.get(ALIASES.get(name, name), [])
        if any(type(value) is type(d) and value == d for d in schema):
            out.append((owner, name, value))

    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef):
            for field in node.body:
                if isinstance(field, ast.AnnAssign) and isinstance(field.target, ast.Name) and field.value:
                    check(node.name, field.target.id, field.value)
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        args = node.args
        positional = args.posonlyargs + args.args
        pairs = list(zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True))
        pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None]
        for arg, default in pairs:
            check(node.name, arg.arg, default)
    return out


#: (module, function or class, name) whose default equals a schema default of another setting that shares its name
COINCIDENCES = {
    # a decoding configuration's neutral values (T = 1, top-k off), not scoring.official's or contrast_grid's
    ("decoding/sampling.py", "DecodingConfig", "temperature"),
    ("decoding/sampling.py", "DecodingConfig", "top_k"),
    # models.<name>.training.batch_size (no schema default) is not generation.captions.batch_size
    ("embedded/training_settings.py", "TrainSettings", "batch_size"),
}


def test_no_library_signature_or_field_repeats_a_schema_default():
    defaults = schema_defaults()
    library = ROOT / "src" / "lvlm_debias"
    found = [
        (path.relative_to(library).as_posix(), *hit)
        for path in sorted(library.rglob("*.py"))
        for hit in repeated_signature_defaults(path.read_text(), defaults)
    ]
    assert not [hit for hit in found if hit[:3] not in COINCIDENCES]
    assert {hit[:3] for hit in found} == COINCIDENCES, "a listed coincidence is gone: remove it from COINCIDENCES"


def test_the_signature_scan_finds_a_repeated_default():
    defaults = schema_defaults()
    text = (
        "def f(a, top_k: int = 100, *, batch_size=64, seed=0, resamples=2000, max_positives=4, shards=True):\n"
        "    pass\n"
        "class C:\n"
        "    def g(self, min_bin_count=20, split='random', skip_bad_records=False, top_k=None): ...\n"
        "@dataclass\n"
        "class Spec:\n"
        "    hard_share: float = 0.2\n"
        "    yes_rate: float = schema_default('models.*.prior.yes_rate')\n"
        "    image_size: int = 32\n"
    )
    assert sorted(repeated_signature_defaults(text, defaults), key=str) == sorted(
        [
            ("f", "top_k", 100),
            ("f", "batch_size", 64),
            ("f", "resamples", 2000),
            ("g", "min_bin_count", 20),
            ("g", "split", "random"),
            ("g", "skip_bad_records", False),
            ("Spec", "hard_share", 0.2),
        ],
        key=str,
    )


def test_schema_default_reads_the_schema():
    from lvlm_debias.embedded.corpus import Prior
    from lvlm_debias.settings import schema_default
    from lvlm_debias.world.scenes import WorldSpec

    schema = yaml.safe_load((ROOT / "config/schema.yaml").read_text())["properties"]
    prior = schema["models"]["additionalProperties"]["properties"]["prior"]["properties"]
    assert schema_default("models.*.prior.yes_rate") == prior["yes_rate"]["default"] == Prior().yes_rate
    assert schema_default("world.hard_share") == schema["world"]["properties"]["hard_share"]["default"]
    assert WorldSpec().hard_share == schema_default("world.hard_share")
    assert schema_default("downloads.fetch") is True
    with pytest.raises(KeyError, match="no property 'world.sizes'"):
        schema_default("world.sizes")
    with pytest.raises(KeyError, match="no default for 'world.shapes'"):
        schema_default("world.shapes")
