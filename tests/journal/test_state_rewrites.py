"""state.json, the run's summary, is not rewritten after every short step, yet is current when the run ends and
is written at once when the run's course changes (a failure)."""
from __future__ import annotations

import json


from engine import journal as journal_module
from engine.events import Fanout, Recorder
from engine.journal import STATE, JournalSink, read_journal
from engine.prepare import prepare
from engine.runner import Runner

STEPS = 40


def _book(fail_last: bool) -> str:
    lines = ["version: 1", "steps:"]
    for i in range(STEPS):
        lines += [f"  - id: s{i}"] + ([f"    needs: [s{i - 1}]"] if i else [])
        lines += ["    uses: assert", "    with: {that: ['false']}" if fail_last and i == STEPS - 1 else
                  "    with: {that: ['true']}"]
    return "\n".join(lines) + "\n"


def _run(tmp_path, monkeypatch, fail_last: bool):
    writes: list[dict] = []
    real = journal_module.write_atomic

    def counting(path, text, **kwargs):
        if path.name == STATE:
            writes.append(json.loads(text))
        return real(path, text, **kwargs)

    monkeypatch.setattr(journal_module, "write_atomic", counting)
    (tmp_path / "p.yaml").write_text(_book(fail_last))
    prepared = prepare(tmp_path / "p.yaml")
    run_dir = tmp_path / "runs" / "r1"
    sink = JournalSink.create(run_dir, meta={"run_id": "r1"}, playbook_text="", inputs={})
    seen = Recorder()
    Runner(prepared, sink=Fanout(sink, seen), run_dir=run_dir, max_parallel=1).run()
    sink.close()
    return writes, json.loads((run_dir / STATE).read_text()), run_dir, seen


def test_a_chain_of_short_steps_does_not_rewrite_the_summary_after_each(tmp_path, monkeypatch):
    writes, final, run_dir, _ = _run(tmp_path, monkeypatch, fail_last=False)
    assert len(writes) < STEPS // 2, f"{len(writes)} rewrites for {STEPS} steps"
    # ...and what is left on disk is the whole run, as the events say.
    state = read_journal(run_dir).state
    assert final["status"] == "succeeded" == state.status()
    assert {k: v["status"] for k, v in final["steps"].items()} == {f"s{i}": "succeeded" for i in range(STEPS)}


class _StateOnDisk:
    """A sink after the journal: what state.json says about a step the moment its failure is emitted."""

    def __init__(self, run_dir) -> None:
        self.run_dir = run_dir
        self.seen: dict[str, str] = {}

    def emit(self, event) -> None:
        if event.kind == "step_failed":
            self.seen[event.key] = json.loads((self.run_dir / STATE).read_text())["steps"][event.key]["status"]


def test_a_failure_is_in_the_summary_before_the_run_goes_on(tmp_path):
    (tmp_path / "p.yaml").write_text(_book(fail_last=True))
    prepared = prepare(tmp_path / "p.yaml")
    run_dir = tmp_path / "runs" / "r1"
    sink = JournalSink.create(run_dir, meta={"run_id": "r1"}, playbook_text="", inputs={})
    probe = _StateOnDisk(run_dir)
    Runner(prepared, sink=Fanout(sink, probe), run_dir=run_dir, max_parallel=1).run()
    sink.close()
    assert probe.seen == {f"s{STEPS - 1}": "failed"}
