"""Run events are a closed set of typed dataclasses whose records keep the journal's format, and one fold turns
them into a run's state, live (the journal's writer) and replayed (`runs`, `show`, `resume`, `rollback`)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from engine import journal, progress, reporter, runstate
from engine.events import KINDS, Event, Recorder, RunEvent, StepOutput, StepStatus, from_record, record, unhandled
from engine.notify import WebhookNotifier
from engine.journal import JournalSink, RunState, read_journal
from engine.prepare import prepare
from engine.runner import Runner

GOLDEN = Path(__file__).resolve().parents[1] / "journal" / "golden" / "events.jsonl"
RECORDS = [json.loads(line) for line in GOLDEN.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("rec", RECORDS, ids=[f"{i}-{r['event']}" for i, r in enumerate(RECORDS)])
def test_a_journal_record_round_trips_through_its_typed_event(rec):
    event = from_record(rec)
    assert type(event) is KINDS[rec["event"]]
    assert json.dumps(record(event)) == json.dumps(rec)  # same keys, same order, same values


def test_the_set_of_kinds_is_closed():
    assert len(KINDS) == 17  # the run's sixteen, and the emulator's downtime verdict
    with pytest.raises(ValueError, match="unknown event kind 'step_exploded'"):
        Event("step_exploded", "a", {})
    # A record of a kind this version does not know (a newer writer) is skipped by readers, not fatal.
    assert from_record({"event": "step_exploded", "step": "a", "time": 1.0}) is None
    state = RunState()
    state.apply({"event": "step_exploded", "step": "a", "time": 1.0})
    assert state.steps == {} and state.updated == 1.0


def test_fields_a_newer_writer_added_are_kept_in_the_record():
    rec = {"event": "step_skipped", "step": "a", "time": 2.0, "reason": "when: false", "by": "newer"}
    assert record(from_record(rec)) == rec


def test_one_step_status_reads_and_writes_as_its_plain_name():
    assert json.dumps({"s": StepStatus.ROLLED_BACK}) == '{"s": "rolled_back"}'
    assert f"{StepStatus.SUCCEEDED}" == "succeeded" and StepStatus.FAILED == "failed"


def test_the_fold_gives_the_same_state_live_and_replayed(tmp_path):
    book = tmp_path / "p.yaml"
    book.write_text("""
version: 1
steps:
  - {id: a, uses: shell, with: {script: "echo a"}, rollback: {uses: shell, with: {script: "true"}}}
  - {id: skip, needs: [a], when: "false", uses: echo, with: {msg: never}}
  - {id: b, needs: [a], uses: shell, with: {script: "exit 3"}, retries: 1, delay: 0.01}
""", encoding="utf-8")
    prepared = prepare(book, out_dir=tmp_path / "r")
    sink = JournalSink.create(tmp_path / "run", meta={}, playbook_text=book.read_text(), inputs={})
    summary = Runner(prepared, sink=sink, run_dir=tmp_path / "run").run()
    sink.close()
    assert summary.exit_code == 1
    live = sink.state.summary()
    replayed = read_journal(tmp_path / "run").state.summary()
    assert live == replayed
    assert replayed["steps"]["a"]["status"] == StepStatus.ROLLED_BACK
    assert replayed["steps"]["b"] == {"status": "failed", "attempts": 2, "rc": 3,
                                      "duration": replayed["steps"]["b"]["duration"], "rollback": None}
    assert replayed["steps"]["skip"]["status"] == "skipped"


def test_the_runner_s_step_statuses_are_the_fold_of_the_events_it_emitted(tmp_path):
    book = tmp_path / "p.yaml"
    book.write_text("""
version: 1
steps:
  - {id: a, uses: shell, with: {script: "true"}, rollback: {uses: shell, with: {script: "true"}}}
  - {id: skip, needs: [a], when: "false", uses: echo, with: {msg: never}}
  - {id: tolerated, needs: [a], uses: shell, with: {script: "exit 2"}, continue_on_error: true}
  - {id: seen, needs: [tolerated], when: "steps.tolerated.status == 'failed'", uses: echo, with: {msg: seen}}
  - {id: b, needs: [seen], uses: shell, with: {script: "exit 3"}}
  - {id: never, needs: [b], uses: echo, with: {msg: never}}
""", encoding="utf-8")
    prepared = prepare(book, out_dir=tmp_path / "r")
    sink = JournalSink.create(tmp_path / "run", meta={}, playbook_text=book.read_text(), inputs={})
    runner = Runner(prepared, sink=sink, run_dir=tmp_path / "run")
    summary = runner.run()
    sink.close()
    # One fold: the runner's state is the journal writer's, and the one a reader replays from disk.
    assert runner.state.summary() == sink.state.summary() == read_journal(tmp_path / "run").state.summary()
    statuses = {k: r.status for k, r in summary.results.items()}
    assert statuses == {"a": "rolled_back", "skip": "skipped", "tolerated": "failed", "seen": "succeeded",
                        "b": "failed", "never": "not_run"}
    # Every status but `not_run` (no event is about that step) is the fold's.
    assert {k: s.status for k, s in runner.state.steps.items()} == {
        k: s for k, s in statuses.items() if s != StepStatus.NOT_RUN}


def test_a_resumed_runner_folds_on_from_what_the_earlier_attempt_left(tmp_path):
    book = tmp_path / "p.yaml"
    book.write_text("""
version: 1
steps:
  - {id: a, uses: echo, with: {msg: a}}
  - {id: b, needs: [a], uses: echo, with: {msg: b}}
""", encoding="utf-8")
    from engine.results import StepResult
    prepared = prepare(book, out_dir=tmp_path / "r")
    runner = Runner(prepared, sink=Recorder(), run_dir=tmp_path / "run",
                    prior={"a": StepResult("a", status=StepStatus.SUCCEEDED)})
    summary = runner.run()
    assert runner.sink.kinds("a") == ["step_kept"]
    assert {k: r.status for k, r in summary.results.items()} == {"a": "succeeded", "b": "succeeded"}
    assert {k: s.status for k, s in runner.state.steps.items()} == {"a": "succeeded", "b": "succeeded"}


# Each consumer of events dispatches on their classes; these are its tables.
CONSUMERS = {
    "the fold (runner, journal, show, resume)": runstate._fold,
    "an event's text (text and live reporters, show)": reporter._line,
    "the webhook notifier": vars(WebhookNotifier)["emit"],
}


@pytest.mark.parametrize("table", CONSUMERS.values(), ids=CONSUMERS.keys())
def test_every_kind_of_event_has_a_handler_in_each_consumer(table):
    assert unhandled(table) == []


def test_the_live_display_places_every_kind_and_the_journal_knows_when_to_sync_each():
    assert set(progress._STATE_OF) == set(KINDS.values())
    written = set(KINDS.values()) - {StepOutput}  # output lines go to their own files
    assert journal._SYNC_NOW <= written and journal._STATE_KINDS <= written
    assert journal._STATE_LATER <= journal._STATE_KINDS


def test_a_kind_added_to_the_set_and_forgotten_by_a_consumer_is_named(monkeypatch):
    @dataclass(frozen=True, kw_only=True)
    class StepPaused(RunEvent):
        kind: ClassVar[str] = "step_paused"

    monkeypatch.setitem(KINDS, StepPaused.kind, StepPaused)
    for table in CONSUMERS.values():
        assert unhandled(table) == ["step_paused"]
