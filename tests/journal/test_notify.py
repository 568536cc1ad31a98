"""The webhook named by the `notify_webhook` var is told about failure, rollback and completion."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from engine.events import Event
from engine.notify import WebhookNotifier


@pytest.fixture
def webhook():
    """A local HTTP server; yields (url, list of received JSON bodies)."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook/secret-token", received
    server.shutdown()


FAILS = """
version: 1
name: notified
steps:
  - id: a
    uses: shell
    with: {script: "true"}
    rollback: {uses: shell, with: {script: "true"}}
  - id: b
    needs: [a]
    uses: shell
    with: {script: "test -e ok"}
"""


def test_failure_rollback_and_completion_are_posted(project, runs_env, webhook):
    url, received = webhook
    project.write("p.yaml", FAILS)
    result = project.run("run", "p.yaml", "--var", f"notify_webhook={url}")
    assert result.rc == 1, result.err
    kinds = sorted(body["event"] for body in received)
    assert kinds == ["failed", "finished", "rolled_back"]
    by_kind = {body["event"]: body for body in received}
    assert by_kind["failed"]["step"] == "b" and by_kind["failed"]["playbook"] == "notified"
    assert by_kind["rolled_back"]["rolled_back"] == ["a"]
    assert by_kind["finished"] == {"run": by_kind["failed"]["run"], "playbook": "notified", "event": "finished",
                                   "status": "failed", "exit_code": 1, "failed": ["b"]}


def test_a_successful_run_posts_only_completion(project, runs_env, webhook):
    url, received = webhook
    project.write("p.yaml", FAILS)
    project.write("ok", "")
    assert project.run("run", "p.yaml", "--var", f"notify_webhook={url}").rc == 0
    assert [b["event"] for b in received] == ["finished"] and received[0]["status"] == "succeeded"


def test_an_unreachable_webhook_is_a_note_that_does_not_change_the_run():
    said: list[str] = []

    def refuse(url: str, payload: bytes) -> None:
        raise OSError("connection refused")

    notifier = WebhookNotifier("http://hooks.example:9/path/TOKEN", "r1", "p", said.append, post=refuse)
    notifier.emit(Event("run_finished", None, {"exit_code": 0, "reason": "succeeded"}))
    assert said == ["note: the finished notification to hooks.example:9 failed: connection refused"]
    assert "TOKEN" not in said[0]
