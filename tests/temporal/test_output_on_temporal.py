"""A Temporal run's output, followed: a running step's lines show while it runs, as a local run's do (its
worker's heartbeats carry them; engine/temporal/output.py), each once, secrets masked. A step that prints far
more than the server's 4 MB message limit still completes: what the run's history keeps of it is its tail and
a line saying how much was left out, and the run can be followed, shown and reported."""
from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

TOKEN = "s3cret-T0ken"

SLOW = """
version: 1
name: slow-talker
inputs:
  token: {type: string, secret: true}
steps:
  - id: talk
    uses: shell
    with: {script: "echo first {{ token | shell_quote }}; sleep 8; touch slept; echo second"}
"""


def test_a_running_steps_output_shows_before_the_step_ends_once_and_masked(project, temporal_worker):
    project.write("p.yaml", SLOW)
    key = project.path("run.key")
    key.write_text(base64.b64encode(b"k" * 16 + uuid.uuid4().bytes).decode())
    flags = temporal_worker(project.root, f"q-live-{uuid.uuid4().hex[:6]}",
                            env={"PLAYBOOK_TEMPORAL_KEY_FILE": str(key)})
    proc = project.popen("run", "p.yaml", "--var", f"token={TOKEN}", "--output", "json", *flags,
                         "--temporal-key-file", str(key), stdin=subprocess.DEVNULL)
    records, when_first = [], None
    deadline = time.monotonic() + 120
    for line in proc.stdout:  # each event is a line, written as it comes
        records.append(json.loads(line))
        if records[-1].get("line", "").startswith("first") and when_first is None:
            when_first = {"slept": project.path("slept").exists(),
                          "ended": any(r["event"] == "step_succeeded" for r in records)}
        assert time.monotonic() < deadline, records
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    assert when_first == {"slept": False, "ended": False}, records
    lines = [r["line"] for r in records if r["event"] == "step_output"]
    assert lines == ["first ***", "second"], lines  # live, then the rest from the step's result: each once
    assert TOKEN not in json.dumps(records)


CHATTY = """
version: 1
name: chatty
steps:
  - id: chatty
    uses: shell
    with:
      script: |
        yes 'a line of chatter, printed over and over until six megabytes have gone by' | head -c 6000000; echo
        echo last line
  - id: reader
    needs: [chatty]
    uses: shell
    with: {script: "echo chatty ended with: {{ steps.chatty.stdout.strip().splitlines()[-1] }}"}
"""


def _history_payloads(server: str, run_id: str) -> tuple[int, list[bytes]]:
    """The run's history: its size as JSON, and every payload in it, decoded."""
    cli = str(Path(sys.executable).parent / "temporal")
    shown = subprocess.run([cli, "workflow", "show", "--workflow-id", run_id, "--address", server,
                            "--output", "json"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    found, todo = [], [json.loads(shown.stdout)]
    while todo:
        value = todo.pop()
        if isinstance(value, dict):
            if isinstance(value.get("data"), str) and isinstance(value.get("metadata"), dict):
                found.append(base64.b64decode(value["data"]))
            todo.extend(value.values())
        elif isinstance(value, list):
            todo.extend(value)
    return len(shown.stdout), found


def test_a_step_printing_far_more_than_4_mb_completes_and_its_run_is_followed_shown_and_reported(
        project, temporal_server, temporal_worker):
    project.write("p.yaml", CHATTY)
    flags = temporal_worker(project.root, f"q-chatty-{uuid.uuid4().hex[:6]}")
    r = project.run("run", "p.yaml", *flags, timeout=240)
    assert r.rc == 0, r.out[-3000:] + r.err[-3000:]
    run_id = r.out.split()[1]

    # Later steps read the step's output's tail, as they would locally.
    out_dir = project.path(".playbook/runs") / run_id / "output"
    assert "chatty ended with: last line" in out_dir.joinpath("reader.out").read_text()
    # The follower's copy ends with the step's last line, after a line that says what was left out.
    copy = out_dir.joinpath("chatty.out").read_text()
    assert copy.rstrip().endswith("last line") and "lines of output not" in copy, copy[-2000:]

    # The history keeps a bounded part of the 6 MB, saying so: each payload well under the server's 2 MB blob
    # limit, the whole history under 2 MB.
    size, payloads = _history_payloads(temporal_server, run_id)
    assert size < 2 * 1024 * 1024 and max(map(len, payloads)) < 1024 * 1024, (size, sorted(map(len, payloads)))
    assert any(b"of output not kept in the run's history" in p for p in payloads)

    for args in (("show", run_id), ("report", run_id), ("runs",),
                 ("show", run_id, "--engine", "temporal", "--temporal-address", temporal_server)):
        done = project.run(*args, timeout=120)
        assert done.rc == 0 and run_id in done.out + done.err, (args, done.out[-2000:], done.err[-2000:])
