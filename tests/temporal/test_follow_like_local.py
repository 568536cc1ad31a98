"""A Temporal run followed by `playbook run --engine temporal` shows as a local run does: the same progress
lines and summary table, the same `--output json` events (each step's output lines, its end with rc,
arguments and stderr tail, each compensation), and a journal in the local runs directory, so `playbook show`,
`runs` and `report` work for its run id; `resume` and `rollback` refuse that copy (the server holds the run)."""
from __future__ import annotations

import json
import re
import textwrap
import uuid
from pathlib import Path

from tests.conftest import Project

PLAYBOOK = """
version: 1
name: mirrored
inputs: {who: {type: string, default: world}}
steps:
  - id: greet
    uses: shell
    with: {script: "echo hello {{ who }}; echo greeted >> log"}
    rollback: {uses: shell, with: {script: "echo undo greet; echo ungreeted >> log"}}
  - id: tolerated
    needs: [greet]
    continue_on_error: true
    uses: shell
    with: {script: "echo soft >&2; exit 4"}
  - id: fail
    needs: [tolerated]
    uses: shell
    with: {script: "echo first line >&2; echo broken >&2; exit 3"}
"""

# Fields that differ between any two runs (times, where the run directory is), not between engines.
VARYING = ("time", "duration")


def _two_runs(tmp_path: Path, temporal_worker, *args: str) -> tuple:
    """The playbook run locally and on Temporal, each in a directory of its own: (local, temporal) results."""
    out = []
    for name in ("local", "temporal"):
        project = Project(tmp_path / name)
        project.root.mkdir()
        project.write("p.yaml", textwrap.dedent(PLAYBOOK))
        flags = temporal_worker(project.root, f"q-mirror-{uuid.uuid4().hex[:6]}") if name == "temporal" else []
        out.append((project, project.run("run", "p.yaml", *args, *flags, timeout=120)))
    return out[0], out[1]


def _records(text: str) -> list[dict]:
    records = [json.loads(line) for line in text.splitlines()]  # every line of stdout is a JSON object
    return [{k: v for k, v in r.items() if k not in VARYING} for r in records]


def test_output_json_gives_the_events_a_local_run_gives(tmp_path, temporal_worker):
    (_, local), (_, remote) = _two_runs(tmp_path, temporal_worker, "--output", "json")
    assert local.rc == remote.rc == 1, local.err + remote.err
    assert "submitted to Temporal" in remote.err  # the note goes to stderr: stdout stays JSON lines
    mine, theirs = _records(local.out), _records(remote.out)
    assert [(r["event"], r["step"]) for r in theirs] == [(r["event"], r["step"]) for r in mine]
    # A step's start names its plugin; what the local runner adds to it (its rendered action) is not sent.
    starts = {"step_started": ("uses",)}
    for a, b in zip(mine, theirs):
        keep = starts.get(a["event"])
        if keep:
            a, b = {k: a.get(k) for k in keep}, {k: b.get(k) for k in keep}
        assert b == a
    ends = {r["step"]: r for r in theirs if r["event"] in ("step_succeeded", "step_failed")}
    assert ends["fail"]["rc"] == 3 and ends["fail"]["stderr_tail"] == "first line\nbroken"
    assert ends["tolerated"]["continue_on_error"] is True
    assert ends["greet"]["args"] == {"script": "echo hello world; echo greeted >> log"}
    assert {"event": "step_output", "step": "greet", "stream": "stdout", "line": "hello world"} in theirs


def _normalised(text: str, project: Project) -> list[str]:
    """Progress text with what differs between two runs replaced: durations, run ids and directories."""
    text = re.sub(r"\d{8}-\d{6}-[0-9a-f]{6}", "RUN", text)
    text = text.replace(str(project.root), "ROOT")
    return [re.sub(r"\d+(\.\d+)?(ms|s|m)\b", "T", line) for line in text.splitlines()]


def test_text_progress_and_summary_are_a_local_runs_and_report_show_runs_work(tmp_path, temporal_worker):
    (lp, local), (tp, remote) = _two_runs(tmp_path, temporal_worker)
    assert local.rc == remote.rc == 1, local.err + remote.err
    head, *rest = _normalised(remote.out, tp)
    assert head.startswith("run RUN submitted to Temporal at 127.0.0.1:")
    assert rest == _normalised(local.out, lp), remote.out
    assert tp.path("log").read_text().split() == ["greeted", "ungreeted"]

    run_id = remote.out.split()[1]
    run_dir = tp.path(".playbook/runs") / run_id
    report = tp.run("report", run_id)
    assert report.rc == 0, report.err
    page = (run_dir / "report.html").read_text()
    assert all(key in page for key in ("greet", "tolerated", "fail")) and "exit code 3" in page
    shown = tp.run("show", run_id)
    assert shown.rc == 0 and "✘ fail failed" in shown.out and "✔ greet rolled back" in shown.out, shown.out
    assert "hello world" in (run_dir / "output").joinpath("greet.out").read_text()
    listed = tp.run("runs")
    assert any(line.split()[:2] == [run_id, "rolled_back"] for line in listed.out.splitlines()), listed.out
    for command in ("resume", "rollback"):
        refused = tp.run(command, run_id, "--yes")
        assert refused.rc == 2 and "is held by a Temporal server" in refused.err, refused.err
