"""The core cases run under both engines, local and Temporal, with the same exit codes and the same effects
(each step appends to files the test reads): one table, each case run twice."""
from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import pytest

from tests.conftest import Project
from tests.core.test_run_semantics import _five_steps


GUARDS = """
version: 1
inputs: {promote: {type: boolean, default: false}}
steps:
  - {id: a, when: promote, uses: shell, with: {script: "echo a >> log"}}
  - {id: b, needs: [a], uses: shell, with: {script: "echo b >> log"}}
  - {id: c, needs: [b], when: "steps.a.status == 'skipped'", uses: shell, with: {script: "echo c >> log"}}
"""

WAVES = """
version: 1
steps:
""" + "".join(f"  - {{id: w{i}, uses: shell, with: {{script: 'echo start >> log; sleep 1.5; echo end >> log'}}}}\n"
              for i in range(3)) + """
  - {id: join, needs: [w0, w1, w2], uses: shell, with: {script: "echo join >> log"}}
"""

FOR_EACH = """
version: 1
inputs: {items: {type: array, default: [c, a, d, b, e, f]}}
steps:
  - id: each
    for_each: "{{ items }}"
    serial: true
    steps:
      - {id: jitter, uses: command, with: {args: [sleep, "{{ 0.05 * (6 - loop_index) }}"]}}
      - {id: note, needs: [jitter], uses: shell, with: {script: "echo {{ item }} >> log"}}
"""

INJECTION = """
version: 1
inputs: {rev: {type: string}}
steps:
  - {id: show, uses: command, with: {args: [python3, -c, "import sys; open('log', 'a').write(sys.argv[1] + chr(10))", "{{ rev }}"]}}
  - {id: again, needs: [show], uses: command, with: {args: [sh, -c, 'printf "%s\\n" "$1" >> log', sh, "{{ rev }}"]}}
"""

RETRY_THEN_FAIL = """
version: 1
steps:
  - {id: first, uses: shell, with: {script: "echo first >> log"}, rollback: {uses: shell, with: {script: "echo unfirst >> log"}}}
  - id: flaky
    needs: [first]
    uses: shell
    retries: 2
    delay: 0.1s
    with: {script: "echo try >> log; exit 1"}
    rollback: {uses: shell, with: {script: "echo unflaky >> log"}}
"""

CONFIRM = """
version: 1
steps:
  - {id: first, uses: shell, with: {script: "echo first >> log"}}
  - {id: switch, needs: [first], confirm: "Switch the default tag?", uses: shell, with: {script: "echo switch >> log"}}
"""

# name, playbook, extra run arguments, expected exit code, expected log lines
CASES = [
    ("reverse_order_rollback", _five_steps(fail_at=3), [], 1,
     ["do 1", "do 2", "undo 3", "undo 2", "undo 1"]),
    ("failing_rollback_exit_3", _five_steps(fail_at=3, failing_rollback=2), [], 3,
     ["do 1", "do 2", "undo 3", "undo 2", "undo 1"]),
    ("all_succeed", _five_steps(fail_at=0), [], 0, [f"do {n}" for n in range(1, 6)]),
    ("guards_skip_and_dependents_run", GUARDS, [], 0, ["b", "c"]),
    ("guards_with_var", GUARDS, ["--var", "promote=true"], 0, ["a", "b"]),
    ("parallel_wave", WAVES, ["--max-parallel", "4"], 0, ["start"] * 3 + ["end"] * 3 + ["join"]),
    ("serial_wave", WAVES, ["--max-parallel", "1"], 0, ["start", "end"] * 3 + ["join"]),
    ("for_each_serial_keeps_order", FOR_EACH, ["--max-parallel", "8"], 0, ["c", "a", "d", "b", "e", "f"]),
    ("var_injection_is_data", INJECTION, ["--var", "rev=1; touch pwned $(touch pwned) {{ 7*7 }}"], 0,
     ["1; touch pwned $(touch pwned) {{ 7*7 }}"] * 2),
    ("confirmation_answered_by_yes", CONFIRM, ["--yes"], 0, ["first", "switch"]),
    ("retries_then_rollback", RETRY_THEN_FAIL, [], 1, ["first", "try", "try", "try", "unflaky", "unfirst"]),
]


def _run(root: Path, playbook: str, args: list[str], engine_flags: list[str]) -> tuple[int, list[str], bool]:
    project = Project(root)
    project.write("p.yaml", textwrap.dedent(playbook))
    result = project.run("run", "p.yaml", *args, *engine_flags, timeout=120)
    log = project.path("log")
    lines = log.read_text().splitlines() if log.exists() else []
    return result.rc, lines, project.path("pwned").exists()


@pytest.mark.parametrize("name,playbook,args,rc,log", CASES, ids=[c[0] for c in CASES])
def test_same_result_under_both_engines(tmp_path, temporal_worker, name, playbook, args, rc, log):
    local_dir, temporal_dir = tmp_path / "local", tmp_path / "temporal"
    local_dir.mkdir()
    temporal_dir.mkdir()
    local = _run(local_dir, playbook, args, [])
    flags = temporal_worker(temporal_dir, f"q-{name}-{uuid.uuid4().hex[:6]}")
    on_temporal = _run(temporal_dir, playbook, args, flags)
    assert local == (rc, log, False)
    assert on_temporal == local


def test_a_secret_in_a_failed_step_message_is_masked_in_temporal_progress(tmp_path, temporal_worker):
    project = Project(tmp_path)
    project.write("p.yaml", """
        version: 1
        inputs: {token: {type: string, secret: true}}
        steps:
          - {id: use, uses: command, with: {args: [sh, -c, 'echo "bad token $1" >&2; exit 1', sh, "{{ token }}"]}}
    """)
    project.write("run.key", uuid.uuid4().hex)  # a run with a secret needs the key its payloads are encrypted with
    key = {"PLAYBOOK_TEMPORAL_KEY_FILE": str(project.path("run.key"))}
    flags = temporal_worker(tmp_path, f"q-secret-{uuid.uuid4().hex[:6]}", env=key)
    result = project.run("run", "p.yaml", "--var", "token=s3cr3t-value", *flags, timeout=120, env=key)
    assert result.rc == 1, result.out + result.err
    assert "✘ use failed" in result.out and "exit code 1: bad token ***" in result.out, result.out
    assert "s3cr3t-value" not in result.out + result.err
