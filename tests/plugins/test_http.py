"""`http` probes a local HTTP server the test starts: status and body expectations, retries, timeouts."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from engine.plugins.base import RunOptions
from engine.plugins.http import HttpPlugin


class Handler(BaseHTTPRequestHandler):
    hits: dict[str, int] = {}

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: str, content_type: str = "text/plain") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.server.hits[self.path] = self.server.hits.get(self.path, 0) + 1
        if self.path == "/healthz":
            self._send(200, "ok: all upstreams healthy")
        elif self.path == "/flaky":
            self._send(503 if self.server.hits[self.path] <= 2 else 200, "warming up")
        elif self.path == "/json":
            self._send(200, json.dumps({"status": "healthy", "revision": "1-20-0"}), "application/json")
        elif self.path == "/slow":
            time.sleep(3)
            self._send(200, "late")
        elif self.path == "/auth":
            self._send(200 if self.headers.get("Authorization") == "Bearer s3cret" else 401, "")
        else:
            self._send(404, "no such page")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length))
        self._send(201, json.dumps({"got": body, "type": self.headers.get("Content-Type")}), "application/json")


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.hits = {}
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("args,ok,message", [
    ({"path": "/healthz"}, True, "status 200"),
    ({"path": "/healthz", "expect_body": "all upstreams? healthy"}, True, "status 200"),
    ({"path": "/healthz", "expect_body": "degraded"}, False,
     "body does not match /degraded/ (got 'ok: all upstreams healthy')"),
    ({"path": "/nope"}, False, "status 404, want 2xx"),
    ({"path": "/nope", "expect_status": 404}, True, "status 404"),
    ({"path": "/healthz", "expect_status": [201, 204]}, False, "status 200, want [201, 204]"),
    ({"path": "/auth", "headers": {"Authorization": "Bearer s3cret"}}, True, "status 200"),
    ({"path": "/auth"}, False, "status 401, want 2xx"),
])
def test_probe_expectations(run_book, server, args, ok, message):
    url, _ = server
    path = args.pop("path")
    ran = run_book(f"""
        version: 1
        steps:
          - id: probe
            uses: http
            with: {json.dumps({"url": url + path, **args})}
    """)
    outcome = ran.outcome("probe")
    assert outcome.ok is ok
    assert outcome.message.endswith(message), outcome.message


def test_json_answers_are_parsed_for_later_steps(run_book, server):
    url, _ = server
    ran = run_book(f"""
        version: 1
        steps:
          - id: probe
            uses: http
            with: {{url: "{url}/json"}}
          - id: check
            needs: [probe]
            uses: assert
            with: {{that: ["steps.probe.json.revision == '1-20-0'", "steps.probe.status_code == 200"]}}
          - id: post
            uses: http
            with: {{url: "{url}/submit", method: POST, json: {{rev: 1-20-0}}, expect_status: 201}}
    """)
    assert ran.code == 0, ran.outcome("check").message
    assert ran.outcome("post").json == {"got": {"rev": "1-20-0"}, "type": "application/json"}


def test_step_retries_repeat_the_probe_until_it_passes(run_book, server):
    url, httpd = server
    ran = run_book(f"""
        version: 1
        steps:
          - id: probe
            retries: 3
            delay: 0.05s
            uses: http
            with: {{url: "{url}/flaky", expect_status: 200}}
    """)
    assert ran.code == 0
    assert ran.summary.results["probe"].attempts == 3
    assert [e.data["message"] for e in ran.events if e.kind == "step_retry"] == [
        f"GET {url}/flaky: status 503, want [200]"] * 2


def test_a_slow_server_times_out_within_the_step_budget(run_book, server):
    url, _ = server
    started = time.time()
    ran = run_book(f"""
        version: 1
        steps:
          - id: probe
            uses: http
            with: {{url: "{url}/slow", timeout: 0.5s}}
    """)
    assert ran.outcome("probe").timed_out
    assert ran.outcome("probe").message == f"GET {url}/slow: no answer within 0.50s"
    assert time.time() - started < 2.5


def test_nothing_listening_is_a_one_line_failure(run_book):
    ran = run_book("""
        version: 1
        steps:
          - {id: probe, uses: http, with: {url: "http://127.0.0.1:9/"}}
    """)
    assert "Connection refused" in ran.outcome("probe").message


def test_the_plan_masks_credentials_in_headers():
    text = HttpPlugin().describe({"url": "https://gw/healthz", "headers": {"Authorization": "Bearer x", "X-Env": "p"},
                                  "expect_status": 200}, RunOptions())
    assert text == "GET https://gw/healthz -H 'Authorization: ***' -H 'X-Env: p', expect status 200"
