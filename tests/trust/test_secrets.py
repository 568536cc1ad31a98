"""Secrets never leak: everything the tool prints or stores is grepped for every form of every secret.

A scalar secret (--var), the leaves of an object secret (--vars-file) and of an array secret (--var), each in
the forms a template or a tool gives it (as written, base64 alone and inside longer base64, shell quoting,
JSON escaping, Python repr, URL encoding), are looked for in: `run` text and `--output json`, `run --dry-run`,
`graph` in every format, `validate`, `show`, `runs`, every journal file, the notifications a loopback webhook
received, and the notes about a webhook that could not be reached.
"""
from __future__ import annotations

import base64
import json
import os
import shlex
import socket
import stat
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

TOKEN = "Tok3n-\"q' $sp@ce/é+x"
CREDS = {"user": "svc-deployer-7", "password": "Pa55/w0rd+x y&z"}
KEYS = ["alpha-key-1111", "beta-key-2222"]
HOOK_PASSWORD = "hookpassw0rd"

PLAYBOOK = """
version: 1
name: secretive
inputs:
  token: {type: string, secret: true}
  creds: {type: object, secret: true}
  keys: {type: array, secret: true}
  notify_webhook: {type: string, default: ""}
steps:
  - id: encode
    name: "encode {{ token }}"
    uses: shell
    with:
      script: |
        echo raw {{ token | shell_quote }}
        echo b64 {{ token | b64encode }}
        echo basic {{ (creds.user ~ ':' ~ creds.password) | b64encode }}
        echo json {{ creds | to_json | shell_quote }}
        echo url {{ token | urlencode | shell_quote }}
        echo keys {{ keys | join(',') | shell_quote }}
        echo quoted {{ token | shell_quote | shell_quote }}
        echo err {{ creds.password | shell_quote }} >&2
    rollback:
      uses: shell
      with: {script: "echo undo {{ token | shell_quote }} {{ keys[0] }}"}
  - id: ask
    needs: [encode]
    confirm: "apply with {{ token }} and {{ creds.password }}?"
    uses: echo
    with: {msg: "{{ keys[1] }} {{ creds.user }}"}
  - id: fail
    needs: [ask]
    uses: shell
    with: {script: "echo {{ token | shell_quote }} {{ creds | to_json | shell_quote }} >&2; exit 3"}
"""


def forms(secret: str) -> set[str]:
    """The forms a secret takes in output (computed here, independently of engine.masking)."""
    out = {secret, shlex.quote(secret), json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
           repr(secret)[1:-1], urllib.parse.quote(secret, safe=""), urllib.parse.quote(secret),
           urllib.parse.quote_plus(secret), base64.b64encode(secret.encode()).decode()}
    return out


SECRETS = [TOKEN, CREDS["user"], CREDS["password"], *KEYS, HOOK_PASSWORD]
# `creds.user:creds.password` base64-encoded: the password's part of it must be unreadable.
BASIC = base64.b64encode(f"{CREDS['user']}:{CREDS['password']}".encode()).decode()


def assert_no_secret(where: str, text: str) -> None:
    for secret in SECRETS:
        for form in forms(secret):
            assert form not in text, f"{where} shows {form!r} (a form of {secret!r}):\n{text}"
    assert BASIC not in text and BASIC[-12:] not in text, f"{where} shows base64 of user:password:\n{text}"


@pytest.fixture
def webhook():
    received: list[bytes] = []
    auth: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            auth.append(self.headers.get("Authorization", ""))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://hook:{HOOK_PASSWORD}@127.0.0.1:{server.server_port}/hook", received, auth
    server.shutdown()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _args(url: str) -> list[str]:
    return ["--var", f"token={TOKEN}", "--var", f"keys={json.dumps(KEYS)}", "--vars-file", "creds.yaml",
            "--var", f"notify_webhook={url}"]


@pytest.fixture
def secretive(project):
    project.write("p.yaml", PLAYBOOK)
    project.path("creds.yaml").write_text(json.dumps({"creds": CREDS}))
    return project


def test_no_output_format_shows_a_secret_in_any_form(secretive, runs_env, webhook):
    project = secretive
    url, received, auth = webhook
    texts: dict[str, str] = {}
    for fmt in ("text", "mermaid", "dot", "json"):
        r = project.run("graph", "p.yaml", *_args(url), "--format", fmt)
        assert r.rc == 0, r.err
        texts[f"graph --format {fmt}"] = r.out + r.err
    r = project.run("run", "p.yaml", *_args(url), "--dry-run")
    assert r.rc == 0 and "apply with ***" in r.out, r.out + r.err
    texts["run --dry-run"] = r.out + r.err
    r = project.run("validate", "p.yaml", *_args(url))
    texts["validate"] = r.out + r.err
    for output in ("text", "json"):
        r = project.run("run", "p.yaml", *_args(url), "--yes", "--verbose", "--output", output)
        assert r.rc == 1, r.out + r.err
        texts[f"run --output {output}"] = r.out + r.err
    assert "raw ***" in texts["run --output text"] and "b64 ***" in texts["run --output text"]
    r = project.run("show", "last")
    texts["show"] = r.out + r.err
    texts["runs"] = project.run("runs").out
    for name, text in texts.items():
        assert_no_secret(name, text)
    # The notifications the webhook received (failed, rolled_back, finished for each of the two runs).
    assert len(received) == 6, (received, texts["run --output text"])
    # The URL's user:password went as Basic authentication, not into the request line.
    assert set(auth) == {"Basic " + base64.b64encode(f"hook:{HOOK_PASSWORD}".encode()).decode()}, auth
    for body in received:
        assert_no_secret("a notification", body.decode())
    # Every journal file but rendered/ (the manifests a step applies: they must hold the real value).
    journal = project.path("runs")
    files = [p for p in journal.rglob("*") if p.is_file() and "rendered" not in p.parts]
    assert len(files) > 10, files
    for path in files:
        assert_no_secret(str(path.relative_to(journal)), path.read_text(encoding="utf-8", errors="replace"))


def test_a_webhook_that_cannot_be_reached_is_named_without_its_password(secretive, runs_env):
    port = _closed_port()
    r = secretive.run("run", "p.yaml", *_args(f"https://hook:{HOOK_PASSWORD}@127.0.0.1:{port}/x"), "--yes")
    assert r.rc == 1
    assert f"notification to 127.0.0.1:{port} failed" in r.err, r.err
    assert_no_secret("run with an unreachable webhook", r.out + r.err)


def test_a_for_each_error_does_not_quote_a_secret(project):
    project.write("p.yaml", """
        version: 1
        inputs:
          token: {type: string, secret: true}
        steps:
          - id: each
            for_each: "{{ token }}"
            uses: echo
            with: {msg: "{{ item }}"}
        """)
    r = project.run("validate", "p.yaml", "--var", f"token={TOKEN}")
    assert r.rc == 2 and "for_each must give a list, got str '***'" in r.err, r.err
    assert_no_secret("validate", r.out + r.err)


def test_journal_directories_are_0700_and_files_0600(secretive, runs_env):
    r = secretive.run("run", "p.yaml", *_args(""), "--yes")
    assert r.rc == 1, r.err
    run_dir = next(p for p in secretive.path("runs").iterdir() if p.is_dir())
    checked = 0
    for path in [secretive.path("runs"), *secretive.path("runs").rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}: readable by others"
        checked += 1
    assert checked > 8 and (run_dir / "output").is_dir()


def test_dry_run_creates_no_run_directory(project, runs_env):
    project.write("t.yaml.j2", "value: {{ 1 + 1 }}\n")
    project.write("p.yaml", """
        version: 1
        steps:
          - id: a
            uses: shell
            with: {script: "cat {{ template_file('t.yaml.j2') }}"}
        """)
    r = project.run("run", "p.yaml", "--dry-run")
    assert r.rc == 0, r.err
    assert not project.path("runs").exists() and not project.path(".playbook").exists()


def test_a_confirmation_prompt_on_a_terminal_never_shows_a_secret(secretive, runs_env):
    """The prompt is asked on a real terminal (a pty as stdin and stdout); answering no skips the step."""
    import pty
    import select
    import subprocess
    import sys
    import time
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "run", "p.yaml", *_args("")],
                            cwd=secretive.root, stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    seen, answered = b"", False
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        if not answered and b"apply with" in seen and b"[y/N]" in seen:
            os.write(leader, b"n\n")
            answered = True
        if proc.poll() is not None and not ready:
            break
    proc.wait(30)
    os.close(leader)
    text = seen.decode("utf-8", "replace")
    assert answered and "apply with *** and ***?" in text, text
    assert_no_secret("a terminal's confirmation prompt", text)
