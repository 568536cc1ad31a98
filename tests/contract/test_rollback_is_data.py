"""Issue 10.1: a rollback a plugin built from what it saw is data, never rendered; only an author-written
`rollback:` is a template, and it is rendered once."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap

import pytest

from engine.events import Recorder
from engine.inputs import parse_var
from engine.prepare import prepare
from engine.runner import Runner
from tests.plugins.conftest import CLUSTER, options_for

needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="the real kubectl is not on PATH")


@pytest.fixture
def emu(tmp_path):
    from engine.emulator import Emulator
    with Emulator(cluster=CLUSTER, state_dir=tmp_path / "emu") as emulator:
        yield emulator


def kubectl(emu, *args, stdin=None):
    return subprocess.run(["kubectl", *args], env={**os.environ, **emu.env()}, capture_output=True, text=True,
                          input=stdin, timeout=30)


def run_with_vars(tmp_path, emu, text, *pairs):
    path = tmp_path / "book.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    cli_vars, cli_raw = {}, {}
    for pair in pairs:
        key, value = parse_var(pair)
        cli_vars[key], cli_raw[key] = value, pair.partition("=")[2]
    prepared = prepare(path, cli_vars=cli_vars, cli_raw=cli_raw, options=options_for(emu),
                       out_dir=tmp_path / "run" / "rendered")
    recorder = Recorder()
    summary = Runner(prepared, sink=recorder, run_dir=tmp_path / "run").run()
    return summary, recorder.events


@needs_kubectl
def test_a_natural_rollback_is_not_rendered_so_a_var_cannot_aim_it_at_another_object(tmp_path, emu):
    made = kubectl(emu, "apply", "-f", "-", stdin=json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "istio", "namespace": "apps"},
         "data": {"mesh": "keep me"}}))
    assert made.returncode == 0, made.stderr
    summary, events = run_with_vars(tmp_path, emu, """
        version: 1
        inputs:
          cm: {type: string}
        steps:
          - id: cm
            uses: kubectl
            with:
              namespace: apps
              apply:
                - {apiVersion: v1, kind: ConfigMap, metadata: {name: "{{ cm }}"}, data: {a: "1"}}
    """, 'cm={{ "istio" }}')
    # The forward step applied the literal name (the value of a --var is data), which the API refuses...
    assert summary.results["cm"].outcome.ok is False and summary.failed == ["cm"]
    assert summary.results["cm"].outcome.outputs["created"] == ['ConfigMap/{{ "istio" }}']
    # ...and its undo deletes exactly that literal name, not ConfigMap `istio`.
    started = [e for e in events if e.kind == "rollback_started" and e.key == "cm"]
    assert started and "ConfigMap/istio" not in started[0].data["action"]
    still = kubectl(emu, "get", "configmap", "istio", "-n", "apps", "-o", "json")
    assert still.returncode == 0, "the rollback deleted ConfigMap istio, which the run never created"
    assert json.loads(still.stdout)["data"] == {"mesh": "keep me"}


def test_an_author_written_rollback_is_rendered_once(tmp_path):
    book = tmp_path / "book.yaml"
    book.write_text(textwrap.dedent("""
        version: 1
        inputs:
          word: {type: string}
        steps:
          - id: one
            uses: shell
            with: {script: "true"}
            rollback: {uses: shell, with: {script: "printf '%s\\\\n' '{{ word }}' >> LOG"}}
          - id: boom
            needs: [one]
            uses: shell
            with: {script: "exit 1"}
    """).lstrip("\n").replace("LOG", str(tmp_path / "undo.log")), encoding="utf-8")
    key, value = parse_var('word={{ 6*7 }}')
    prepared = prepare(book, cli_vars={key: value}, cli_raw={key: "{{ 6*7 }}"}, out_dir=tmp_path / "r")
    summary = Runner(prepared, sink=Recorder(), run_dir=tmp_path / "run").run()
    assert summary.exit_code == 1 and summary.rolled_back == ["one"]
    # The author's template saw the var's value, and that value (itself template text) stayed literal.
    assert (tmp_path / "undo.log").read_text() == "{{ 6*7 }}\n"
