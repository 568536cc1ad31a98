"""Secrets of a Temporal run never reach the server in clear: the run's inputs (the workflow's start event),
each step's arguments and results, the progress and results queries, failures: every payload in the history
is ciphertext under the key file the client and the workers share. Without that key, a run with a secret
input is refused before anything is sent."""
from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
from pathlib import Path

from engine.masking import encoded_forms

TOKEN = "Tok3n-\"q' $sp@ce/é+x"
CREDS = {"user": "svc-deployer-7", "password": "Pa55/w0rd+x y&z"}
SECRETS = [TOKEN, CREDS["user"], CREDS["password"]]

PLAYBOOK = """
version: 1
name: secretive
inputs:
  token: {type: string, secret: true}
  creds: {type: object, secret: true}
steps:
  - id: encode
    uses: shell
    with:
      script: |
        echo raw {{ token | shell_quote }}
        echo b64 {{ token | b64encode }}
        echo basic {{ (creds.user ~ ':' ~ creds.password) | b64encode }}
        echo err {{ creds.password | shell_quote }} >&2
    rollback:
      uses: shell
      with: {script: "echo undo {{ token | shell_quote }}"}
  - id: fail
    needs: [encode]
    uses: shell
    with: {script: "echo {{ token | shell_quote }} {{ creds | to_json | shell_quote }} >&2; exit 3"}
"""


def assert_no_secret(where: str, text: str) -> None:
    for secret in SECRETS:
        for form in encoded_forms(secret):
            assert form not in text, f"{where} shows {form!r} (a form of {secret!r}):\n{text[:3000]}"


def _payloads(history: dict) -> list[dict]:
    """Every payload ({metadata, data}) anywhere in the history's JSON."""
    found, todo = [], [history]
    while todo:
        value = todo.pop()
        if isinstance(value, dict):
            if isinstance(value.get("data"), str) and isinstance(value.get("metadata"), dict):
                found.append(value)
            todo.extend(value.values())
        elif isinstance(value, list):
            todo.extend(value)
    return found


def _secretive(project) -> list[str]:
    project.write("p.yaml", PLAYBOOK)
    project.path("creds.yaml").write_text(json.dumps({"creds": CREDS}))
    project.path("run.key").write_text(base64.b64encode(b"k" * 16 + uuid.uuid4().bytes).decode())
    return ["--var", f"token={TOKEN}", "--vars-file", "creds.yaml"]


def test_the_history_of_a_run_with_secrets_holds_none_of_them(project, temporal_server, temporal_worker):
    args = _secretive(project)
    key = str(project.path("run.key"))
    flags = temporal_worker(project.root, f"q-secret-{uuid.uuid4().hex[:6]}", env={"PLAYBOOK_TEMPORAL_KEY_FILE": key})
    r = project.run("run", "p.yaml", *args, *flags, "--temporal-key-file", key, timeout=120)
    assert r.rc == 1, r.out + r.err
    assert "✘ fail failed" in r.out and "✔ encode rolled back" in r.out, r.out
    assert_no_secret("run --engine temporal", r.out + r.err)
    run_id = r.out.split()[1]

    cli = str(Path(sys.executable).parent / "temporal")
    shown = subprocess.run([cli, "workflow", "show", "--workflow-id", run_id, "--address", temporal_server,
                            "--output", "json"], capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0, shown.stderr
    assert_no_secret("the workflow's history", shown.stdout)
    payloads = _payloads(json.loads(shown.stdout))
    # The start event's input, every activity's input and result (plan, gates, two steps, an undo), at least.
    assert len(payloads) >= 12, shown.stdout[:3000]
    for payload in payloads:
        encoding = base64.b64decode(payload["metadata"]["encoding"])
        assert encoding == b"binary/playbook-aes256gcm", payload
        assert_no_secret("a payload of the history", base64.b64decode(payload["data"]).decode("latin-1"))

    # The follower's copy of the run in the local runs directory (journal, output, report) masks them too.
    copy = [p for p in project.path(".playbook/runs").joinpath(run_id).rglob("*") if p.is_file()]
    assert len(copy) > 6 and any(p.name == "report.html" for p in copy), copy
    for path in copy:
        assert_no_secret(str(path), path.read_text(encoding="utf-8", errors="replace"))

    # With the key, the run's record reads as a local run's does: secrets masked.
    shown = project.run("show", run_id, "--engine", "temporal", "--temporal-address", temporal_server,
                        "--temporal-key-file", key)
    assert shown.rc == 0, shown.err
    assert "failed       fail" in shown.out and "result: failed (exit 1)" in shown.out, shown.out
    assert_no_secret("show --engine temporal", shown.out + shown.err)


def test_a_run_with_a_secret_input_and_no_key_is_refused_before_anything_is_sent(project, temporal_server,
                                                                               temporal_worker):
    args = _secretive(project)
    flags = temporal_worker(project.root, f"q-nokey-{uuid.uuid4().hex[:6]}")
    r = project.run("run", "p.yaml", *args, *flags)
    assert r.rc == 2, r.out + r.err
    assert "this run has secret inputs" in r.err and "--temporal-key-file" in r.err, r.err
    assert "submitted" not in r.out
    assert_no_secret("the refusal", r.out + r.err)
