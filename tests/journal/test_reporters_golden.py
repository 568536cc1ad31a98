"""Golden output of the reporters: plain text, JSON lines and the live terminal block, for one run that
has output, a secret, a skipped step, a retry, a failure and a rollback that fails (exit 3).

The events come from a real run; times become 1000, 1001, ... and durations 0.5 s so the files are
stable. To accept a deliberate change: UPDATE_GOLDEN=1 pytest tests/journal/test_reporters_golden.py
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from engine.events import Event, Recorder
from engine.prepare import prepare
from engine.progress import LiveReporter
from engine.reporter import JsonLinesReporter, TextReporter, summary_table
from engine.runner import Runner

GOLDEN = Path(__file__).parent / "golden"

PLAYBOOK = """
version: 1
name: golden
inputs:
  token: {type: string, secret: true, default: hunter2}
steps:
  - id: hello
    uses: echo
    with: {msg: hello}
  - id: noisy
    needs: [hello]
    uses: shell
    with: {script: "echo token={{ token }}; echo second line"}
    rollback: {uses: echo, with: {msg: "undo noisy"}}
  - id: optional
    needs: [hello]
    when: "false"
    uses: echo
    with: {msg: never}
  - id: flaky
    needs: [noisy]
    uses: shell
    retries: 1
    delay: 0.01
    with: {script: "echo broken >&2; exit 3"}
    rollback: {uses: shell, with: {script: "echo cannot undo >&2; exit 4"}}
  - id: never
    needs: [flaky]
    uses: echo
    with: {msg: never}
"""


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """(events normalised, summary) of one real run of PLAYBOOK."""
    root = tmp_path_factory.mktemp("golden")
    (root / "p.yaml").write_text(PLAYBOOK)
    prepared = prepare(root / "p.yaml")
    rec = Recorder()
    summary = Runner(prepared, sink=rec, run_dir=root / "run", max_parallel=1).run()
    events = [_normalise(e, i) for i, e in enumerate(rec.events)]
    for r in summary.results.values():
        if r.started is not None:
            r.started, r.ended = 1000.0 + list(summary.results).index(r.key), 1000.5 + list(summary.results).index(
                r.key)
    return events, summary, [n.key for n in prepared.plan.ordered()]


def _normalise(e: Event, index: int) -> Event:
    data = dict(e.data)
    if data.get("duration") is not None:
        data["duration"] = 0.5
    return Event(e.kind, e.key, data, 1000.0 + index)  # events are typed: rebuilt from their record's parts


def _check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path}: run with UPDATE_GOLDEN=1 once"
    assert text == path.read_text(encoding="utf-8"), f"output differs from {path} (UPDATE_GOLDEN=1 to accept)"


def _feed(sink, events) -> None:
    for e in events:
        sink.emit(e)


@pytest.mark.parametrize("show_output, name", [(True, "text.txt"), (False, "text-quiet.txt")])
def test_text_reporter_golden(recorded, show_output, name):
    events, summary, _ = recorded
    out = io.StringIO()
    _feed(TextReporter(out, show_output=show_output), events)
    _check(name, out.getvalue() + "\n" + summary_table(summary) + "\n")


def test_json_lines_reporter_golden(recorded):
    events, _, _ = recorded
    out = io.StringIO()
    _feed(JsonLinesReporter(out), events)
    _check("events.jsonl", out.getvalue())


def test_live_reporter_golden(recorded):
    events, _, keys = recorded
    out = io.StringIO()
    live = LiveReporter(out, keys, clock=lambda: 1030.0, size=(80, 40), tick=None)
    _feed(live, events)
    live.close()
    _check("live.txt", out.getvalue().replace("\x1b", "⎋"))


def test_secret_never_reaches_any_reporter(recorded):
    events, _, _ = recorded
    out = io.StringIO()
    _feed(JsonLinesReporter(out), events)
    _feed(TextReporter(out), events)
    assert "hunter2" not in out.getvalue() and "token=***" in out.getvalue()
