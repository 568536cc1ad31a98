"""Editor support (the playbook schema for yaml-language-server, a modeline in each shipped playbook) and
shell completion (click's own, for bash, zsh and fish) of commands, run ids and input names."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator

from engine import docgen
from engine.runs import run_ids

ROOT = Path(__file__).resolve().parents[2]
EDITOR_SCHEMA = ROOT / "schemas" / "playbook.draft-07.schema.json"
SHIPPED = sorted((ROOT / "playbooks").glob("*.yaml"))
MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")


def test_the_editor_schema_is_generated_from_the_engines_schema():
    assert EDITOR_SCHEMA.read_text() == docgen.editor_schema(), "stale: run python -m engine.docgen"
    assert "$defs" not in EDITOR_SCHEMA.read_text()


@pytest.mark.parametrize("playbook", SHIPPED, ids=lambda p: p.name)
def test_each_shipped_playbook_names_the_editor_schema_in_a_modeline_and_satisfies_it(playbook):
    first = playbook.read_text().splitlines()[0]
    match = MODELINE.match(first)
    assert match, f"{playbook.name} has no yaml-language-server modeline"
    schema_path = (playbook.parent / match.group(1)).resolve()
    assert schema_path == EDITOR_SCHEMA
    schema = json.loads(schema_path.read_text())
    Draft7Validator.check_schema(schema)
    assert list(Draft7Validator(schema).iter_errors(yaml.safe_load(playbook.read_text()))) == []


@pytest.mark.parametrize("mistake, expected", [
    ({"version": 1, "steps": [{"id": "a", "uses": "echo", "with": {"msg": "x"}, "retires": 2}]}, "retires"),
    ({"version": 1, "steps": [{"id": "a", "uses": "echo", "steps": []}]}, None),
    ({"version": 1, "steps": [{"id": "a", "uses": "echo", "timeout": "soon"}]}, None),
])
def test_the_editor_schema_marks_what_the_engine_refuses(mistake, expected):
    errors = list(Draft7Validator(json.loads(EDITOR_SCHEMA.read_text())).iter_errors(mistake))
    assert errors
    if expected:
        assert any(expected in e.message for e in errors)


@pytest.fixture
def shell_env(tmp_path):
    """A `playbook` executable on PATH (as pip installs it) and a journal with two runs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "playbook"
    exe.write_text(f"#!/bin/sh\nexec {sys.executable} -c 'import sys; sys.argv[0] = \"playbook\"; "
                   f"from engine.cli import main; main()' \"$@\"\n")
    exe.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "PLAYBOOK_RUNS_DIR": str(tmp_path / "runs"), "PYTHONPATH": str(ROOT)}
    (tmp_path / "p.yaml").write_text("version: 1\nsteps:\n  - {id: a, uses: echo, with: {msg: hi}}\n")
    for _ in range(2):
        subprocess.run(["playbook", "run", "p.yaml"], cwd=tmp_path, env=env, check=True, capture_output=True,
                       timeout=60)
    ids = run_ids(tmp_path / "runs")  # oldest first by recorded start (two runs may share a second)
    return env, tmp_path, ids


def _complete(shell: str, words: str, env: dict, cwd: Path) -> list[str]:
    """What the shell's completion function would get, as its generated script calls `playbook`."""
    incomplete = "" if words.endswith(" ") else words.split()[-1]
    # zsh passes the index of the word being completed; fish passes the word itself.
    cword = incomplete if shell == "fish" else str(len(words.split()) - (0 if words.endswith(" ") else 1))
    done = subprocess.run(["playbook"], cwd=cwd, capture_output=True, text=True, timeout=60,
                          env={**env, "_PLAYBOOK_COMPLETE": f"{shell}_complete", "COMP_WORDS": words,
                               "COMP_CWORD": cword})
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completes_run_ids_and_input_names_in_a_real_bash(shell_env):
    env, cwd, ids = shell_env
    script = subprocess.run(["playbook"], env={**env, "_PLAYBOOK_COMPLETE": "bash_source"}, capture_output=True,
                            text=True, timeout=60).stdout

    def complete(*words: str) -> list[str]:
        array = " ".join(f"'{w}'" for w in words)
        done = subprocess.run(["bash", "-c", f'{script}\nCOMP_WORDS=({array}); COMP_CWORD={len(words) - 1}; '
                               '_playbook_completion playbook; printf "%s\\n" "${COMPREPLY[@]}"'],
                              cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
        return [line for line in done.stdout.splitlines() if line]
    assert complete("playbook", "sh") == ["show"]
    assert complete("playbook", "show", "") == [ids[1], ids[0], "last"]  # newest first
    assert complete("playbook", "report", ids[0][:-3]) == [ids[0]]
    assert complete("playbook", "run", str(ROOT / "playbooks" / "canary-upgrade.yaml"), "--var", "r") == [
        "rev=", "rollout_timeout="]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_get_run_ids_and_input_names_with_their_help(shell_env, shell):
    env, cwd, ids = shell_env
    source = subprocess.run(["playbook"], env={**env, "_PLAYBOOK_COMPLETE": f"{shell}_source"},
                            capture_output=True, text=True, timeout=60).stdout
    assert "_PLAYBOOK_COMPLETE" in source and f"{shell}_complete" in source
    runs = "\n".join(_complete(shell, "playbook resume ", env, cwd))
    assert ids[0] in runs and "succeeded" in runs
    names = "\n".join(_complete(shell, f"playbook validate {ROOT / 'playbooks' / 'migrate-namespaces.yaml'} --var ",
                                env, cwd))
    assert "namespaces_to_move=" in names and "required: The wave" in names
