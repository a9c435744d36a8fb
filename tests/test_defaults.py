"""The schema is the one place a default is written: no rule, script or library module spells a schema default again
as a ``.get(key, fallback)`` fallback (Snakemake's ``validate`` has filled it in before any rule reads the config)."""

from __future__ import annotations

import ast
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


#: a signature's parameter named differently from its schema property
ALIASES = {"resamples": "bootstrap_resamples"}

#: (module, function, parameter) whose default equals a schema default and is not fed from the config, each with why
EXEMPT = {
    # the model loaders' own defaults for loading a path or repo directly (tests, bench); every rule goes through
    # models.load.load_entry, which passes the config entry's device, dtype and trust_remote_code
    ("models/load.py", "resolve_device", "device"),
    ("models/load.py", "load_model", "dtype"),
    ("models/load.py", "load_model", "device"),
    ("models/load.py", "load_model", "trust_remote_code"),
    ("models/processors.py", "load_processor", "trust_remote_code"),
    # the downloader's: rule download_model passes the entry's trust_remote_code and downloads.fetch
    ("models/download.py", "model_patterns", "trust_remote_code"),
    ("models/download.py", "download", "fetch"),
    ("models/download.py", "download_model", "trust_remote_code"),
    ("models/download.py", "download_model", "fetch"),
    # the side assumed for an annotation record without its own image_size (ShapesWorld's records carry theirs)
    ("world/tasks.py", "build_mme", "image_size"),
}


def _literal(node: ast.expr):
    try:
        return ast.literal_eval(node)
    except ValueError:
        return _literal  # not a literal: equal to no default


def repeated_signature_defaults(text: str, defaults: dict[str, list]) -> list[tuple[str, str, object]]:
    """``(function, parameter, default)`` for every parameter of a function in ``text`` named like a schema property
    (or its alias) whose literal default equals one of that property's schema defaults."""
    out = []
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        args = node.args
        positional = args.posonlyargs + args.args
        pairs = list(zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True))
        pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None]
        for arg, default in pairs:
            value = _literal(default)
            schema = defaults.get(ALIASES.get(arg.arg, arg.arg), [])
            if any(type(value) is type(d) and value == d for d in schema):
                out.append((node.name, arg.arg, value))
    return out


def test_no_library_signature_repeats_a_schema_default():
    defaults = schema_defaults()
    library = ROOT / "src" / "lvlm_debias"
    found = []
    for path in sorted(library.rglob("*.py")):
        module = path.relative_to(library).as_posix()
        found += [
            (module, *hit)
            for hit in repeated_signature_defaults(path.read_text(), defaults)
            if (module, hit[0], hit[1]) not in EXEMPT
        ]
    assert not found


def test_every_exemption_is_still_needed():
    defaults = schema_defaults()
    library = ROOT / "src" / "lvlm_debias"
    hits = {
        (module, fn, arg)
        for module in {m for m, _, _ in EXEMPT}
        for fn, arg, _ in repeated_signature_defaults((library / module).read_text(), defaults)
    }
    assert hits >= EXEMPT


def test_the_signature_scan_finds_a_repeated_default():
    defaults = schema_defaults()
    text = (
        "def f(a, top_k: int = 100, *, batch_size=64, seed=0, resamples=2000, max_positives=4, shards=True):\n"
        "    pass\n"
        "class C:\n"
        "    def g(self, min_bin_count=20, split='random', skip_bad_records=False, top_k=None): ...\n"
    )
    assert repeated_signature_defaults(text, defaults) == [
        ("f", "top_k", 100),
        ("f", "batch_size", 64),
        ("f", "resamples", 2000),
        ("g", "min_bin_count", 20),
        ("g", "split", "random"),
        ("g", "skip_bad_records", False),
    ]
