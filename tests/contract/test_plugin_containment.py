"""A third-party plugin's bug is contained: a raising `run`, `describe` or undo, an invalid schema, a module
that is missing. Issue 10.2 (a rollback that raises does not stop the rollback) is pinned here too."""
from __future__ import annotations

import pytest

BOOK = """
version: 1
steps:
  - id: first
    uses: shell
    with: {script: "echo do first >> log"}
    rollback: {uses: shell, with: {script: "echo undo first >> log"}}
  - id: thing
    needs: [first]
    uses: PLUGIN
ROLLBACK
  - id: boom
    needs: [thing]
    uses: shell
    with: {script: "exit 1"}
"""


def book(plugin: str, rollback: str = "") -> str:
    return BOOK.replace("PLUGIN", plugin).replace("ROLLBACK\n", rollback)


@pytest.mark.parametrize("rollback", [
    "    rollback: {uses: raising-undo, with: {as_rollback: true}}\n",  # the author's rollback raises
    "",  # the plugin's own undo hook raises
], ids=["author-rollback", "undo-hook"])
def test_a_rollback_that_raises_fails_that_rollback_and_the_others_still_run_exit_3(project, plugin_env, rollback):
    project.write("p.yaml", book("raising-undo", rollback))
    result = project.run("run", "p.yaml", env=plugin_env)
    assert result.rc == 3, result.out + result.err
    assert project.path("log").read_text().splitlines() == ["do first", "undo first"]
    assert "internal error in plugin 'raising-undo'" in result.out and "KeyError" in result.out
    assert "rollback FAILED for thing" in result.out
    assert "Traceback" not in result.out + result.err


def test_a_raising_run_fails_its_step_and_the_run_rolls_back(project, plugin_env):
    project.write("p.yaml", book("raising-run"))
    result = project.run("run", "p.yaml", env=plugin_env)
    assert result.rc == 1, result.out + result.err
    assert project.path("log").read_text().splitlines() == ["do first", "undo first"]
    assert "internal error in plugin 'raising-run' (run): KeyError: 'missing'" in result.out
    assert "Traceback" not in result.out + result.err
    # The traceback is kept for the plugin's author beside the journal, not printed.
    saved = list(project.path(".playbook/runs").glob("*/tracebacks/thing.run.txt"))
    assert len(saved) == 1 and "KeyError" in saved[0].read_text()


def test_a_raising_describe_is_shown_as_such_and_the_step_still_runs(project, plugin_env):
    project.write("p.yaml", """
        version: 1
        steps:
          - id: say
            uses: raising-describe
    """)
    plan = project.run("run", "p.yaml", "--dry-run", env=plugin_env)
    assert plan.rc == 0, plan.out + plan.err
    assert "internal error in plugin 'raising-describe' (describe): RuntimeError: cannot say" in plan.out
    graph = project.run("graph", "p.yaml", "--format", "json", env=plugin_env)
    assert graph.rc == 0 and "cannot say" in graph.out, graph.err
    ran = project.run("run", "p.yaml", env=plugin_env)
    assert ran.rc == 0, ran.out + ran.err
    assert project.path("ran.log").read_text() == "raising-describe ran\n"
    assert "Traceback" not in plan.out + plan.err + ran.out + ran.err


@pytest.mark.parametrize("command", ["validate", "run"])
def test_an_invalid_schema_is_exit_2_naming_the_plugin(project, plugin_env, command):
    project.write("p.yaml", """
        version: 1
        steps:
          - id: odd
            uses: bad-schema
    """)
    result = project.run(command, "p.yaml", env=plugin_env)
    assert result.rc == 2, result.out + result.err
    assert "p.yaml:4: step 'odd': plugin 'bad-schema' (trustplug:BadSchema) declares an invalid `with` schema" \
        in result.err
    assert "Traceback" not in result.err and not project.path("log").exists()


def test_a_plugin_whose_module_is_missing_is_listed_as_broken_and_the_rest_work(project, plugin_env):
    listing = project.run("plugins", env=plugin_env)
    assert listing.rc == 0, listing.err
    assert "gone: BROKEN" in listing.out and "ModuleNotFoundError" in listing.out
    assert "bad-schema: BROKEN" in listing.out
    assert "fine: works" in listing.out and "shell: " in listing.out
    assert "Traceback" not in listing.err
    project.write("ok.yaml", """
        version: 1
        steps:
          - {id: ok, uses: fine}
    """)
    assert project.run("run", "ok.yaml", env=plugin_env).rc == 0
    project.write("gone.yaml", """
        version: 1
        steps:
          - {id: g, uses: gone}
    """)
    gone = project.run("validate", "gone.yaml", env=plugin_env)
    assert gone.rc == 2 and "plugin 'gone' (trustplug_missing_module:Plugin) cannot be loaded" in gone.err
