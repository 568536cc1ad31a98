"""Optional confirmations: a `confirm:` prompt that renders empty asks nothing, and plans show each group
copy's own prompt and names rendered (the shipped canary playbook confirms per wave this way)."""
from __future__ import annotations

WAVES = """
version: 1
inputs:
  waves:
    type: array
    default:
      - {name: test, namespaces: [a], confirm: false}
      - {name: prod, namespaces: [b, c], confirm: true}
vars:
  prompt: "{{ ('Move wave ' ~ item.name ~ '?') if item.confirm else '' }}"
steps:
  - id: wave
    name: "Wave {{ item.name }}"
    for_each: "{{ waves }}"
    serial: true
    confirm: "{{ prompt }}"
    steps:
      - id: ns
        for_each: "{{ item.namespaces }}"
        steps:
          - id: move
            name: "Move {{ item }}"
            uses: shell
            with: {script: "echo {{ item }} >> log"}
"""


def test_an_empty_prompt_asks_nothing_and_a_filled_one_stops_without_a_terminal(project):
    project.write("p.yaml", WAVES)
    result = project.run("run", "p.yaml")
    # Without a terminal and without --yes, the run stops cleanly before the wave that asks (exit 4)...
    assert result.rc == 4, result.out + result.err
    # ...after the wave whose prompt rendered empty ran without asking.
    assert project.path("log").read_text().split() == ["a"]
    assert "Move wave prod?" in result.out


def test_yes_answers_the_filled_prompt(project):
    project.write("p.yaml", WAVES)
    result = project.run("run", "p.yaml", "--yes")
    assert result.rc == 0, result.out + result.err
    assert sorted(project.path("log").read_text().split()) == ["a", "b", "c"]


def test_the_plan_shows_each_copys_own_prompt_under_an_inner_loop(project):
    project.write("p.yaml", WAVES)
    result = project.run("run", "p.yaml", "--dry-run")
    assert result.rc == 0, result.err
    plan = result.out
    # The inner for_each shadows `item`; the wave's prompt is still rendered with the wave's item.
    assert plan.count("confirm: Move wave prod?") == 2  # on b's and c's steps
    assert "Move wave test?" not in plan
    assert "Move b" in plan and "{{ item }}" not in plan


def test_mermaid_renders_step_and_group_names_and_marks_only_asking_groups(project):
    project.write("p.yaml", WAVES)
    result = project.run("graph", "p.yaml", "--format", "mermaid")
    assert result.rc == 0, result.err
    assert "Move a" in result.out and "{{" not in result.out
    assert "wave[prod] — Wave prod (asks first)" in result.out
    assert "wave[test] — Wave test (asks first)" not in result.out
