"""Fixtures for the plugin tests: a small emulated cluster, and running a playbook in-process with its events."""
from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engine.events import Event, Recorder
from engine.plugins.base import RunOptions
from engine.prepare import prepare
from engine.results import RunSummary
from engine.runner import Runner

# Istio "default" plus one injected namespace with one two-replica deployment: enough for every plugin.
CLUSTER = {
    "readiness_delay": 0.05,
    "istio": [{"revision": "default", "version": "1.19.3", "gateway": False}],
    "namespaces": [{"name": "apps", "labels": {"istio-injection": "enabled"},
                    "deployments": [{"name": "web", "replicas": 2, "maxSurge": 1, "maxUnavailable": 0}]}],
}


@dataclass
class Ran:
    """One in-process run: its summary, every event, and where its run directory is."""

    summary: RunSummary
    events: list[Event]
    run_dir: Path

    @property
    def code(self) -> int:
        return self.summary.exit_code

    def outcome(self, key: str):
        return self.summary.results[key].outcome

    def lines(self, key: str) -> list[str]:
        return [e.data["line"] for e in self.events if e.kind == "step_output" and e.key == key]

    def kinds(self, key: str) -> list[str]:
        return [e.kind for e in self.events if e.key == key]


@pytest.fixture
def emu(tmp_path):
    from engine.emulator import Emulator
    with Emulator(cluster=CLUSTER, state_dir=tmp_path / "emu") as emulator:
        yield emulator


def options_for(emu: Any = None, **kwargs: Any) -> RunOptions:
    """Run options pointing at an emulator the way `--emulate` does."""
    opts = RunOptions(**kwargs)
    if emu is not None:
        opts.env.update(emu.env())
        opts.kubeconfig = str(emu.kubeconfig)
    return opts


@pytest.fixture
def run_book(tmp_path):
    """Write a playbook and run it in-process; returns a Ran."""
    counter = {"n": 0}

    def run(text: str, *, emu: Any = None, options: RunOptions | None = None, **kwargs: Any) -> Ran:
        counter["n"] += 1
        path = tmp_path / f"book{counter['n']}.yaml"
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        opts = options or options_for(emu, **kwargs)
        run_dir = tmp_path / f"run{counter['n']}"
        prepared = prepare(path, options=opts, out_dir=run_dir / "rendered")
        recorder = Recorder()
        summary = Runner(prepared, sink=recorder, run_dir=run_dir).run()
        return Ran(summary, recorder.events, run_dir)
    return run
