"""`playbook report RUN`: what the page holds, read from the journal: steps coloured by outcome, inputs with
secrets masked, approvals, gates with what they measured, rollbacks, and the Markdown version."""
from __future__ import annotations

import http.server
import re
import threading

import pytest

from engine.report import build_report, render

GATED = r"""
version: 1
name: gated
inputs:
  token: {type: string, secret: true}
  url: {type: string}
steps:
  - {id: prepare, uses: shell, with: {script: "echo token={{ token }}"}, rollback: {uses: shell, with: {script: "true"}}}
  - {id: approve-it, needs: [prepare], uses: approve, with: {prompt: "Go on?"}}
  - {id: probe, needs: [approve-it], uses: http, with: {url: "{{ url }}", expect_status: 200}}
  - {id: healthy, needs: [probe], uses: assert, with: {that: "steps.probe.status_code == 200"}}
  - {id: breaks, needs: [healthy], uses: shell, with: {script: 'printf "bad \033[31mred\033[0m\n" >&2; exit 1'}}
  - {id: never, needs: [breaks], uses: echo, with: {msg: never}}
"""


@pytest.fixture(scope="module")
def server():
    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/healthz"
    srv.shutdown()


@pytest.fixture
def gated_run(project, server):
    project.write("p.yaml", GATED)
    result = project.run("run", "p.yaml", "--yes", "--var", "token=hunter2-secret", "--var", f"url={server}")
    assert result.rc == 1, result.out + result.err
    runs = project.root / ".playbook" / "runs"
    return next(p for p in runs.iterdir() if p.is_dir()), result


def test_a_run_writes_its_report_and_says_where(gated_run):
    run_dir, result = gated_run
    assert result.out.rstrip().splitlines()[-1] == f"report: {run_dir.relative_to(run_dir.parents[2]) / 'report.html'}"
    assert (run_dir / "report.html").is_file()


def test_the_report_masks_secret_inputs(gated_run):
    run_dir, _ = gated_run
    for fmt in ("html", "md"):
        text = render(build_report(run_dir), fmt)
        assert "hunter2-secret" not in text
        assert "***" in text


def test_the_report_holds_steps_by_outcome_gates_approvals_and_rollbacks(gated_run, server):
    run_dir, _ = gated_run
    report = build_report(run_dir)
    assert {s.key: s.status for s in report.steps} == {
        "prepare": "rolled_back", "approve-it": "succeeded", "probe": "succeeded", "healthy": "succeeded",
        "breaks": "failed", "never": "not_run"}
    gates = {g.key: (g.uses, g.check, g.measured) for g in report.gates}
    assert gates["probe"] == ("http", f"GET {server}", "status 200")
    assert gates["healthy"] == ("assert", "steps.probe.status_code == 200", "true")
    assert [(a.key, a.answer) for a in report.approvals] == [("approve-it", "approved")]
    assert [s.key for s in report.rollbacks] == ["prepare"] and report.step("prepare").rollback == "succeeded"
    html = render(report)
    assert re.search(r'<g class="node s-failed" data-key="breaks"', html)
    assert re.search(r'<rect class="rollback-bar"', html)
    assert "Go on? yes (--yes)" in html
    assert "\x1b" not in html and "\\x1b[31m" in html  # terminal escapes from step output made visible


def test_report_command_writes_html_or_markdown(project, gated_run):
    run_dir, _ = gated_run
    out = project.run("report", "last", "--format", "md", "-o", "-")
    assert out.rc == 0, out.err
    md = out.out
    assert md.startswith("# gated — run `") and "## Gates" in md and "```mermaid" in md
    assert "| `probe` | http | succeeded |" in md
    written = project.run("report", run_dir.name[:12], "-o", "r.html")
    assert written.rc == 0 and written.out.strip() == "r.html"
    assert project.path("r.html").read_text().startswith("<!DOCTYPE html>")


def test_a_run_stopped_at_a_confirmation_shows_the_unanswered_approval(project):
    project.write("p.yaml", """
        version: 1
        steps:
          - {id: promote, confirm: "Promote?", uses: echo, with: {msg: hi}}
    """)
    assert project.run("run", "p.yaml").rc == 4
    run_dir = next(p for p in (project.root / ".playbook" / "runs").iterdir() if p.is_dir())
    approvals = build_report(run_dir).approvals
    assert [(a.key, a.prompt) for a in approvals] == [("promote", "Promote?")]
    assert approvals[0].answer.startswith("nobody to ask")


def test_resume_rewrites_the_report_with_the_whole_run(project):
    project.write("p.yaml", """
        version: 1
        name: resumed
        steps:
          - {id: first, uses: echo, with: {msg: one}}
          - {id: promote, needs: [first], confirm: "Promote?", uses: echo, with: {msg: two}}
    """)
    assert project.run("run", "p.yaml").rc == 4
    resumed = project.run("resume", "last", "--yes")
    assert resumed.rc == 0, resumed.err
    run_dir = next(p for p in (project.root / ".playbook" / "runs").iterdir() if p.is_dir())
    assert resumed.out.rstrip().splitlines()[-1] == f"report: {run_dir.relative_to(project.root) / 'report.html'}"
    html = (run_dir / "report.html").read_text()
    assert 'data-key="promote" data-status="succeeded"' in html and "attempts: run, resume" in html
