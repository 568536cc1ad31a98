"""The docs cannot drift: generated references match their sources, and every guide example validates."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine import docgen

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(docgen.GENERATED))
def test_generated_reference_is_up_to_date(name):
    expected = docgen.GENERATED[name]()
    actual = (ROOT / "docs" / name).read_text(encoding="utf-8")
    assert actual == expected, f"docs/{name} is stale: run `python -m engine.docgen`"


def test_every_step_key_of_the_schema_is_explained_in_the_authoring_guide():
    guide = (ROOT / "docs" / "authoring.md").read_text(encoding="utf-8")
    step_keys = docgen.playbook_schema()["$defs"]["step"]["properties"]
    missing = [k for k in step_keys if k not in ("name", "tags") and f"`{k}" not in guide and f"{k}:" not in guide]
    assert not missing, f"docs/authoring.md never mentions {missing}"


EXAMPLES = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "authoring.md").read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_authoring_guide_example_validates(project, index):
    project.write("example.yaml", EXAMPLES[index])
    result = project.run("validate", "example.yaml", "--var", "rev=1-20-0")
    assert result.rc == 0, result.err
