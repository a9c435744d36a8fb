"""The documentation against the tree: a short README, links that resolve, every config section documented with the
schema's defaults, and every library path the pages name importable."""

import importlib
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CONFIG_README = ROOT / "config" / "README.md"
SCHEMA = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
PAGES = [README, CONFIG_README, *sorted((ROOT / "docs").glob("*.md"))]

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
MODULE_PATH = re.compile(r"\blvlm_debias(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
IMPORT_LINE = re.compile(r"^from (lvlm_debias[\w.]*) import ([\w, ]+)", re.MULTILINE)
SECTION = re.compile(r"^## `([A-Za-z_]+)`\s*$", re.MULTILINE)


def _prose(text: str) -> list[str]:
    """The lines of a markdown text outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = "".join(ch for ch in text if ch.isalnum() or ch in " -_")
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading anchor of ``page`` (a repeated heading gets -1, -2, ..., as GitHub numbers them)."""
    seen: dict[str, int] = {}
    out = set()
    for line in _prose(page.read_text()):
        match = re.match(r"^#{1,6}\s+(.*)$", line)
        if not match:
            continue
        slug = _slug(match.group(1))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def test_readme_is_short():
    lines = README.read_text().splitlines()
    assert len(lines) < 120, f"README.md has {len(lines)} lines; move detail to docs/ or config/README.md"


def test_readme_links_every_page():
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in LINK.findall(README.read_text())}
    pages = [CONFIG_README, *sorted((ROOT / "docs").glob("*.md"))]
    missing = [str(p.relative_to(ROOT)) for p in pages if p.resolve() not in linked]
    assert not missing, f"README.md links no {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    broken = []
    for line in _prose(page.read_text()):
        for target in LINK.findall(line):
            if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(f"{target}: no file {file}")
            elif anchor and file.suffix == ".md" and anchor not in anchors(file):
                broken.append(f"{target}: no heading with anchor #{anchor} in {file.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_anchor_slugs_follow_github():
    assert _slug("Downloads (`workflow/rules/download.smk`)") == "downloads-workflowrulesdownloadsmk"
    assert _slug("Reading the label probabilities: ours and the official code's") == (
        "reading-the-label-probabilities-ours-and-the-official-codes"
    )


def test_every_schema_section_is_documented():
    documented = set(SECTION.findall(CONFIG_README.read_text()))
    missing = [key for key in SCHEMA["properties"] if key not in documented]
    assert not missing, f"config/README.md has no '## `key`' section for {missing}"
    unknown = sorted(documented - set(SCHEMA["properties"]))
    assert not unknown, f"config/README.md documents sections the schema does not have: {unknown}"


def _sections(text: str) -> dict[str, str]:
    """config/README.md's text under each '## `key`' heading."""
    parts = SECTION.split(text)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def _node(section: str, key: str) -> dict | None:
    """The schema node of ``key`` (dotted) in top-level ``section``; None where the schema's shape is not a plain
    object of properties (an entry keyed by a name, a conditional)."""
    node = SCHEMA["properties"][section]
    if section == "models":
        node = node["additionalProperties"]
    for part in key.split("."):
        props = node.get("properties")
        if props is None or part not in props:
            return None
        node = props[part]
    return node


def _rows(section_text: str):
    """(key, default cell) of every table row whose first cell is one backticked key and whose table has a default
    column."""
    header = None
    for line in section_text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
            continue
        if set(cells[0]) <= set("-: ") or "default" not in header:
            continue
        key = re.fullmatch(r"`([A-Za-z_][\w.]*)`", cells[0])
        if key:
            yield key.group(1), cells[header.index("default")]


def test_config_readme_defaults_are_the_schemas():
    """Every documented key exists in the schema, and a default written as one backticked value (or "—") is the
    schema's own."""
    checked, wrong = 0, []
    for section, text in _sections(CONFIG_README.read_text()).items():
        if section == "datasets":  # entries keyed by a name, under an if/then/else: checked by hand
            continue
        for key, default in _rows(text):
            node = _node(section, key)
            if node is None:
                wrong.append(f"{section}.{key}: not a key of the schema")
                continue
            value = re.fullmatch(r"`([^`]*)`", default)
            if value:
                checked += 1
                if "default" not in node or yaml.safe_load(value.group(1)) != node["default"]:
                    wrong.append(f"{section}.{key}: documented default {default}, schema {node.get('default', 'none')}")
            elif default.startswith("—") and "default" in node:
                checked += 1
                wrong.append(f"{section}.{key}: documented without a default; the schema's is {node['default']!r}")
    assert not wrong, "; ".join(wrong)
    assert checked > 50, f"only {checked} documented defaults were checked: has the table layout changed?"


#: a worked example's new file, named in its code block's first line (``# src/lvlm_debias/benchmarks/colours.py``).
EXAMPLE_FILE = re.compile(r"^# src/(lvlm_debias/[\w/]+)\.py\b", re.MULTILINE)


def example_modules() -> set[str]:
    """The modules the pages' worked examples add (``docs/extending.md``): files that do not exist in the tree."""
    named = {m.replace("/", ".") for page in PAGES for m in EXAMPLE_FILE.findall(page.read_text())}
    return {m for m in named if not (ROOT / "src" / (m.replace(".", "/") + ".py")).exists()}


def _is_example(path: str, examples: set[str]) -> bool:
    return any(path == m or path.startswith(m + ".") for m in examples)


def _resolve(path: str) -> bool:
    """Whether the dotted ``path`` is an importable module, or an attribute of the longest importable prefix."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            if not hasattr(obj, name):
                return False
            obj = getattr(obj, name)
        return True
    return False


def test_library_paths_in_docs_import():
    named = {path.rstrip(".") for page in PAGES for path in MODULE_PATH.findall(page.read_text())}
    assert "lvlm_debias.scoring.cache" in named  # the pages name library paths, so the scan has something to check
    examples = example_modules()
    missing = sorted(path for path in named if not _is_example(path, examples) and not _resolve(path))
    assert not missing, f"the docs name library paths that do not import: {missing}"


def test_import_lines_in_docs_run():
    lines = [(page, m) for page in PAGES for m in IMPORT_LINE.finditer(page.read_text())]
    assert lines, "docs/library.md shows the library's entry points as import lines"
    failed, examples = [], example_modules()
    for page, match in lines:
        if _is_example(match.group(1), examples):
            continue
        module = importlib.import_module(match.group(1))
        for name in (n.strip() for n in match.group(2).split(",")):
            if name and not hasattr(module, name):
                failed.append(f"{page.relative_to(ROOT)}: from {match.group(1)} import {name}")
    assert not failed, "; ".join(failed)


def test_worked_examples_are_not_in_the_tree():
    """The exemption above sees the benchmark example's new file, and never an existing module."""
    assert "lvlm_debias.benchmarks.colours" in example_modules()
    assert "lvlm_debias.benchmarks.pope" not in example_modules()
