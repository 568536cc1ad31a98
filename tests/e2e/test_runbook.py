"""docs/canary-upgrade.md shows the graph the tool produces for the shipped playbook, and every playbook
it tells SREs to run is valid."""
from __future__ import annotations

import re

from e2e_harness import PLAYBOOKS, REPO


def test_the_runbook_graph_is_what_playbook_graph_prints_today(project):
    doc = (REPO / "docs" / "canary-upgrade.md").read_text(encoding="utf-8")
    shown = re.search(r"<!-- graph: [^\n]*-->\n```mermaid\n(.*?)```\n<!-- end graph -->", doc, re.DOTALL)
    assert shown, "the runbook lost its graph block"
    printed = project.run("graph", str(PLAYBOOKS / "canary-upgrade.yaml"), "--var", "rev=1-20-0",
                          "--format", "mermaid")
    assert printed.rc == 0, printed.err
    assert shown.group(1) == printed.out, ("docs/canary-upgrade.md is out of date: paste the output of "
                                           "`playbook graph playbooks/canary-upgrade.yaml --var rev=1-20-0 "
                                           "--format mermaid` between the graph markers")


def test_every_shipped_playbook_validates(project):
    needed = {"migrate-namespaces.yaml": ["--var", "namespaces_to_move=[test-namespace]"]}
    for path in sorted(PLAYBOOKS.glob("*.yaml")):
        result = project.run("validate", str(path), "--var", "rev=1-20-0", *needed.get(path.name, []))
        assert result.rc == 0, f"{path.name}: {result.err}"
