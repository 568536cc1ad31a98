"""A fake change-management API on loopback, and running the real `playbook` CLI with this package installed."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


@dataclass
class TicketServer:
    """Records every request; tickets are CHG1, CHG2... in the order they are opened."""

    url: str = ""
    requests: list[tuple[str, str, dict, str]] = field(default_factory=list)  # method, path, body, auth
    states: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def tickets():
    server_state = TicketServer()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, code: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802 — http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            server_state.requests.append(("POST", self.path, body, self.headers.get("Authorization", "")))
            if self.path == "/changes":
                ticket = f"CHG{len(server_state.states) + 1}"
                server_state.states[ticket] = "open"
                self._answer(201, {"id": ticket, "state": "open"})
            elif self.path.endswith("/cancel") and self.path.split("/")[2] in server_state.states:
                server_state.states[self.path.split("/")[2]] = "cancelled"
                self._answer(200, {"state": "cancelled"})
            else:
                self._answer(404, {"error": "no such ticket"})

        def do_GET(self) -> None:  # noqa: N802
            server_state.requests.append(("GET", self.path, {}, self.headers.get("Authorization", "")))
            ticket = self.path.rsplit("/", 1)[-1]
            if ticket in server_state.states:
                self._answer(200, {"id": ticket, "state": server_state.states[ticket]})
            else:
                self._answer(404, {"error": "no such ticket"})

        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield server_state
    httpd.shutdown()
    httpd.server_close()


@dataclass
class Result:
    rc: int
    out: str
    err: str


@pytest.fixture
def playbook(tmp_path: Path):
    """Write a playbook and run `playbook ARGS` on it as a real subprocess."""
    def run(text: str, *args: str, env: dict | None = None) -> Result:
        (tmp_path / "p.yaml").write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        done = subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120, stdin=subprocess.DEVNULL,
                              env={**os.environ, "PLAYBOOK_RUNS_DIR": str(tmp_path / "runs"), **(env or {})})
        return Result(done.returncode, done.stdout, done.stderr)
    return run
