"""What `--dry-run` and `graph` print: every rendered command, guards, rollbacks, run-time placeholders."""
from __future__ import annotations

import json
from pathlib import Path

PLAYBOOK = """
version: 1
name: mini-upgrade
inputs:
  rev: {type: string, required: true}
  namespaces: {type: array, default: [test, prod]}
vars:
  version: "{{ rev | replace('-', '.') }}"
steps:
  - id: backup
    uses: command
    with: {args: [kubectl, get, istiooperator, -n, istio-system, -o, yaml]}
  - id: install
    needs: [backup]
    uses: command
    with: {args: [istioctl, install, -y, --revision, "{{ rev }}"]}
    rollback: {uses: command, with: {args: [istioctl, uninstall, -y, --revision, "{{ rev }}"]}}
  - id: migrate
    needs: [install]
    for_each: "{{ namespaces }}"
    serial: true
    confirm: "Migrate {{ item }}?"
    steps:
      - id: relabel
        uses: command
        with: {args: [kubectl, label, namespace, "{{ item }}", istio-injection-, "istio.io/rev={{ rev }}", --overwrite]}
      - id: restart
        needs: [relabel]
        uses: command
        with: {args: [kubectl, rollout, restart, deployment, -n, "{{ item }}"]}
  - id: report
    needs: [migrate]
    when: "steps.backup.rc == 0"
    uses: echo
    with: {msg: "backup was {{ steps.backup.stdout | length }} bytes; now on {{ version }}"}
"""


def test_dry_run_prints_waves_rendered_argv_guards_and_rollbacks_and_runs_nothing(project):
    project.write("p.yaml", PLAYBOOK)
    result = project.run("run", "p.yaml", "--var", "rev=1-20-0", "--dry-run")
    assert result.rc == 0, result.err
    out = result.out
    assert "Plan for mini-upgrade" in out and "dry run, nothing is executed" in out
    assert "Wave 1\n  ▶ backup  [command]\n      $ kubectl get istiooperator -n istio-system -o yaml" in out
    assert "$ istioctl install -y --revision 1-20-0" in out
    assert "rollback: $ istioctl uninstall -y --revision 1-20-0" in out
    assert "$ kubectl label namespace prod istio-injection- istio.io/rev=1-20-0 --overwrite" in out
    assert "confirm: Migrate test?" in out
    assert "when: steps.backup.rc == 0  (decided at run time)" in out
    assert "<template: backup was {{ steps.backup.stdout | length }} bytes; now on {{ version }}>" in out
    # Serial copies: prod's relabel waits for test's restart.
    assert "needs: migrate[test].restart" in out


def test_graph_formats(project):
    project.write("p.yaml", PLAYBOOK)
    mermaid = project.run("graph", "p.yaml", "--var", "rev=1", "--format", "mermaid").out
    assert mermaid.startswith("flowchart TD\n")
    assert 'subgraph' in mermaid and '["migrate[test] (asks first)"]' in mermaid
    assert mermaid.count(" --> ") == 6
    dot = project.run("graph", "p.yaml", "--var", "rev=1", "--format", "dot").out
    assert dot.startswith("digraph playbook {") and '"install" -> "migrate[test].relabel";' in dot
    data = json.loads(project.run("graph", "p.yaml", "--var", "rev=1", "--format", "json").out)
    assert data["waves"][0] == ["backup"]
    assert [n["key"] for n in data["nodes"]][-1] == "report"
    text = project.run("graph", "p.yaml", "--var", "rev=1").out
    assert "migrate[prod].relabel [command] <- migrate[test].restart" in text


def test_validate_reports_size_of_the_plan(project):
    project.write("p.yaml", PLAYBOOK)
    result = project.run("validate", "p.yaml", "--var", "rev=1-20-0")
    assert result.rc == 0
    assert result.out.strip() == "p.yaml: valid — 7 steps in 7 waves"


def test_plugins_lists_builtins_with_arguments(project):
    out = project.run("plugins").out
    for name in ("command:", "shell:", "assert:", "wait:", "echo:"):
        assert name in out
    assert "args (required): array|string" in out


def test_a_plan_renders_a_fixed_template_once_but_what_reads_item_or_steps_per_copy(project):
    """The plan reuses the value of a template that reads only inputs and fixed vars; a var that reads `item`
    (directly or through another var) is rendered for each copy, and a step result stays a placeholder."""
    project.write("p.yaml", """
        version: 1
        inputs: {rev: {type: string, default: 1-20-0}}
        vars:
          version: "{{ rev | replace('-', '.') }}"
          target: "{{ item }}-{{ version }}"
          label: "ns={{ target }}"
        steps:
          - id: first
            uses: command
            with: {args: [echo, "{{ version }}"]}
          - id: each
            needs: [first]
            for_each: [a, b]
            steps:
              - {id: show, uses: command, with: {args: [echo, "{{ label }}", "{{ version }}", "{{ steps.first.stdout }}"]}}
    """)
    result = project.run("run", "p.yaml", "--dry-run")
    assert result.rc == 0, result.err
    assert "echo ns=a-1.20.0 1.20.0 '<steps.first.stdout>'" in result.out, result.out
    assert "echo ns=b-1.20.0 1.20.0 '<steps.first.stdout>'" in result.out, result.out


def test_a_plan_renders_a_template_file_for_each_copy_even_when_the_call_does_not_name_item(project):
    project.write("m.yaml.j2", "namespace: {{ item }}\n")
    project.write("p.yaml", """
        version: 1
        steps:
          - id: each
            for_each: [a, b]
            steps:
              - {id: apply, uses: command, with: {args: [kubectl, apply, -f, "{{ template_file('m.yaml.j2') }}"]}}
    """)
    result = project.run("run", "p.yaml", "--dry-run")
    assert result.rc == 0, result.err
    listed = result.out.split("Rendered templates (for review):")[1].split()
    assert len(listed) == 2 and sorted(Path(p).read_text() for p in listed) == ["namespace: a\n", "namespace: b\n"]
