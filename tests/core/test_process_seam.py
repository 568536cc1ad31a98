"""The process seam (engine/execute.py): process groups end with SIGKILL after a timeout or a cancel, output
is kept and passed on within its caps, stdin is fed, and a run's journal holds no more than the caps."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from engine.execute import OUTPUT_HEAD, OUTPUT_TAIL, run_process

# A child that starts a grandchild ignoring SIGTERM (its output sent elsewhere, so no pipe shows it is
# there; an ignored signal stays ignored across exec), then waits to be stopped; the child dies on SIGTERM.
STUBBORN = 'sh -c "trap \'\' TERM; echo \\$\\$ > {pidfile}; exec sleep 120" >/dev/null 2>&1 &\necho started\nsleep 120\n'


def _stubborn(tmp_path: Path) -> tuple[list[str], Path]:
    pidfile = tmp_path / "grandchild.pid"
    return ["sh", "-c", STUBBORN.format(pidfile=pidfile)], pidfile


def _wait_for(path: Path, seconds: float = 30.0) -> None:
    end = time.monotonic() + seconds
    while not (path.exists() and path.read_text()):
        assert time.monotonic() < end, f"{path} never written"
        time.sleep(0.02)


@pytest.mark.parametrize("how", ["timeout", "cancel"])
def test_a_grandchild_ignoring_sigterm_is_killed_when_the_grace_period_ends(tmp_path, process_alive, how):
    argv, pidfile = _stubborn(tmp_path)
    cancel = threading.Event()
    if how == "cancel":  # what Ctrl-C, SIGTERM of the engine or a failed sibling do to a running step
        threading.Thread(target=lambda: (_wait_for(pidfile), cancel.set()), daemon=True).start()
    done = run_process(argv, timeout=30.0 if how == "cancel" else 3.0, cancel=cancel, kill_grace=0.5)
    assert not done
    assert (done.timed_out, done.cancelled) == (how == "timeout", how == "cancel")
    grandchild = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while process_alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_alive(grandchild), "the grandchild that ignores SIGTERM survived its step"


def test_a_group_that_ends_on_sigterm_is_not_held_for_the_whole_grace_period():
    started = time.monotonic()
    done = run_process([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"],
                       timeout=1.0, kill_grace=30.0)
    assert done.timed_out and "up" in done.stdout
    assert time.monotonic() - started < 20


def test_output_over_the_caps_keeps_head_and_tail_and_counts_the_rest():
    lines = 60_000  # ~2.4 MB of numbered lines, over head + tail of 64 KiB each here
    seen: list[tuple[str, str]] = []
    done = run_process([sys.executable, "-c", f"import sys\nfor i in range({lines}): print(f'line {{i:06d}} ' + 'x' * 30)"],
                       on_output=lambda stream, line: seen.append((stream, line)),
                       output_head=64 * 1024, output_tail=64 * 1024)
    assert done.rc == 0
    text = done.stdout
    assert text.startswith("line 000000 ") and text.endswith(f"line {lines - 1:06d} " + "x" * 30 + "\n")
    assert len(text) < 2 * 64 * 1024 + 200
    assert done.stdout_omitted > 2_000_000
    marker = [line for line in text.splitlines() if line.startswith("[... ")]
    assert len(marker) == 1 and "lines" in marker[0] and "omitted" in marker[0]
    streamed = [line for stream, line in seen if stream == "stdout"]
    assert streamed[0] == "line 000000 " + "x" * 30 and streamed[-1] == f"line {lines - 1:06d} " + "x" * 30
    assert len(streamed) < 2 * 64 * 1024 // 40 + 10
    assert any("held back" in line for line in streamed) and any(line == marker[0] for line in streamed)
    # Kept lines are whole and in order: head then tail, nothing invented.
    numbers = [int(line.split()[1]) for line in text.splitlines() if line.startswith("line ")]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)


def test_output_within_the_caps_is_kept_exactly():
    payload = "".join(f"{i} é\n" for i in range(20_000)) + "no newline at the end"
    done = run_process([sys.executable, "-c", "import sys; sys.stdout.write(sys.stdin.read())"], stdin=payload)
    assert done.rc == 0 and done.stdout == payload and done.stdout_omitted == 0


def test_a_long_line_without_newlines_is_bounded():
    done = run_process([sys.executable, "-c", "import sys; sys.stdout.write('y' * 5_000_000)"],
                       output_head=100_000, output_tail=100_000)
    assert done.rc == 0
    assert done.stdout.startswith("y" * 1000) and done.stdout.endswith("y" * 1000)
    assert len(done.stdout) < 250_000
    assert done.stdout.count("y") + done.stdout_omitted == 5_000_000


def test_large_stdin_is_fed_while_output_is_read():
    payload = "z" * (3 * 1024 * 1024)  # more than a pipe holds: feeding and reading must interleave
    done = run_process([sys.executable, "-c", "import sys; d = sys.stdin.read(); print(len(d))"], stdin=payload)
    assert done.rc == 0 and done.stdout.strip() == str(len(payload))


def test_default_caps_are_a_mebibyte_each():
    assert OUTPUT_HEAD == OUTPUT_TAIL == 1024 * 1024


def test_a_run_journal_keeps_step_output_within_the_caps(tmp_path):
    book = tmp_path / "book.yaml"
    book.write_text(textwrap.dedent(f"""
        version: 1
        steps:
          - id: chatty
            uses: command
            with: {{args: [{json.dumps(sys.executable)}, -c, "for i in range(150000): print(f'row {{i:07d}} ' + '.' * 40)"]}}
    """))
    done = subprocess.run([sys.executable, "-m", "engine.cli", "run", str(book), "--yes", "--quiet",
                           "--runs-dir", str(tmp_path / "runs")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (run_dir,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    kept = (run_dir / "output" / "chatty.out").read_text()
    assert len(kept.encode()) < OUTPUT_HEAD + OUTPUT_TAIL + 4096  # 150,000 rows are ~7.5 MB
    assert kept.startswith("row 0000000 ") and "row 0149999 " in kept
    assert "omitted" in kept


def test_output_read_as_data_can_be_kept_whole():
    done = run_process([sys.executable, "-c", "import sys; sys.stdout.write('[' + ','.join(['1'] * 2_000_000) + ']')"],
                       output_head=None, output_tail=1024)
    assert done.rc == 0 and done.stdout_omitted == 0 and len(json.loads(done.stdout)) == 2_000_000


# How a child starts (posix_spawn, or Popen where a working directory is given) must not show: each case
# runs both ways.
@pytest.mark.parametrize("cwd", [None, "/"], ids=["spawned", "popen"])
def test_a_child_starts_as_popen_would_start_it(tmp_path, cwd):
    # SIGPIPE has its default action back (Python ignores it): `yes` ends quietly when `head` stops reading.
    piped = run_process(["sh", "-c", "yes | head -n 1"], cwd=cwd)
    assert (piped.rc, piped.stdout, piped.stderr) == (0, "y\n", "")
    # Its own session and process group, stdin from /dev/null when none is given.
    ids = run_process(["sh", "-c", "ps -o pid=,pgid=,sid= -p $$; cat"], cwd=cwd).stdout.split()
    assert len(set(ids)) == 1
    # A descriptor this process may pass on (inheritable) stays here, as with Popen's close_fds.
    r, w = os.pipe()
    os.set_inheritable(w, True)
    try:
        listed = run_process(["ls", "/proc/self/fd"], cwd=cwd).stdout.split()
    finally:
        os.close(r)
        os.close(w)
    assert str(w) not in listed
    # The program is looked up on the PATH of the environment the child gets.
    tool = tmp_path / "only-here"
    tool.write_text("#!/bin/sh\necho found\n")
    tool.chmod(0o755)
    found = run_process(["only-here"], env={"PATH": f"{tmp_path}:/usr/bin:/bin"}, cwd=cwd)
    assert (found.rc, found.stdout) == (0, "found\n")
    assert run_process(["only-here"], cwd=cwd).not_found
    tool.chmod(0o644)
    assert run_process([str(tool)], cwd=cwd).rc == 126
