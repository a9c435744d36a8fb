"""Every rule that loads a model takes its threads and cluster resources from one definition in common.smk."""

import re

from conftest import ROOT

RULES = ROOT / "workflow" / "rules"
SCRIPTS = ROOT / "workflow" / "scripts"


def rules() -> dict[str, str]:
    """Rule name -> its text, for every rule of workflow/rules/*.smk."""
    out = {}
    for path in sorted(RULES.glob("*.smk")):
        parts = re.split(r"^rule (\w+):\n", path.read_text(), flags=re.MULTILINE)
        out.update(dict(zip(parts[1::2], parts[2::2], strict=True)))
    return out


def loads_a_model(body: str) -> bool:
    """A rule whose script gives torch its threads is one that runs a model."""
    script = re.search(r'script:\s*\n\s*"\.\./scripts/(\w+\.py)"', body)
    return bool(script) and "torch.set_num_threads" in (SCRIPTS / script.group(1)).read_text()


def test_every_model_rule_takes_the_shared_threads_and_resources():
    model_rules = {name: body for name, body in rules().items() if loads_a_model(body)}
    assert len(model_rules) >= 9, sorted(model_rules)
    for name, body in model_rules.items():
        threads = re.search(r"^    threads: (.+)$", body, flags=re.MULTILINE)
        assert threads and threads.group(1) in ("MODEL_THREADS", 'STUDY["threads"]'), (name, threads)
        assert "**MODEL_RESOURCES," in body, name


def test_the_definition_is_written_once():
    common = (RULES / "common.smk").read_text()
    assert len(re.findall(r"^MODEL_THREADS = ", common, flags=re.MULTILINE)) == 1
    assert len(re.findall(r"^MODEL_RESOURCES = ", common, flags=re.MULTILINE)) == 1
    for path in RULES.glob("*.smk"):
        assert not re.search(r"^    threads: \d", path.read_text(), flags=re.MULTILINE), path.name
        assert "STUDY_RESOURCES" not in path.read_text(), path.name
