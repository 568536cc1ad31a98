"""docs/plugins.md cannot drift: every plugin has a section, and every example playbook validates."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.plugins.base import RunOptions
from engine.plugins.registry import PluginRegistry
from engine.prepare import prepare

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
TEXT = DOC.read_text(encoding="utf-8")
EXAMPLES = [block for block in re.findall(r"```yaml\n(.*?)```", TEXT, re.S) if block.startswith("version: 1")]


def test_every_installed_plugin_has_a_section():
    headings = " ".join(re.findall(r"^## (.+)$", TEXT, re.M))
    builtin_elsewhere = {"command", "shell", "echo"}
    missing = [n for n in PluginRegistry().names() if n not in builtin_elsewhere and n not in headings]
    assert not missing, f"docs/plugins.md has no section for {missing}"


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_example_validates(tmp_path, index):
    path = tmp_path / "example.yaml"
    path.write_text(EXAMPLES[index], encoding="utf-8")
    prepared = prepare(path, options=RunOptions(dry_run=True), out_dir=tmp_path / "rendered")
    assert prepared.plan.nodes
