"""The one seam where child processes are started: argv lists, own process group, timeouts, cancellation.

A timeout or a cancel (Ctrl-C, SIGTERM, a failed sibling) terminates the whole process group, then kills it
after a grace period, so no grandchild outlives its step.
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

OutputFn = Callable[[str, str], None]  # (stream name, line without newline)


@dataclass(frozen=True)
class Completed:
    """The outcome of one process: truthy when it exited 0."""

    argv: tuple[str, ...]
    rc: int
    stdout: str
    stderr: str
    started: float
    ended: float
    timed_out: bool = False
    cancelled: bool = False
    not_found: bool = False

    def __bool__(self) -> bool:
        return self.rc == 0 and not self.timed_out and not self.cancelled

    @property
    def duration(self) -> float:
        return self.ended - self.started


def _pump(stream, name: str, sink: list[str], on_output: OutputFn | None) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", errors="replace")
        sink.append(line)
        if on_output is not None:
            on_output(name, line.rstrip("\n"))
    stream.close()


def _pidfd(pid: int) -> int | None:
    """A file descriptor that is readable once `pid` has exited (Linux 5.3+), else None."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def run_process(argv: Sequence[str], *, timeout: float | None = None, cancel: threading.Event | None = None,
                env: Mapping[str, str] | None = None, cwd: str | None = None, stdin: str | None = None,
                on_output: OutputFn | None = None, kill_grace: float = 5.0) -> Completed:
    """Run argv (never through a shell) and wait, honouring `timeout` and `cancel`."""
    argv = tuple(str(a) for a in argv)
    started = time.time()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(env) if env else None,
                                cwd=cwd, start_new_session=True)
    except FileNotFoundError:
        return Completed(argv, 127, "", f"command not found: {argv[0]}\n", started, time.time(), not_found=True)
    except PermissionError:
        return Completed(argv, 126, "", f"permission denied: {argv[0]}\n", started, time.time())
    out: list[str] = []
    err: list[str] = []
    pumps = [threading.Thread(target=_pump, args=(proc.stdout, "stdout", out, on_output), daemon=True),
             threading.Thread(target=_pump, args=(proc.stderr, "stderr", err, on_output), daemon=True)]
    for t in pumps:
        t.start()
    if stdin is not None:
        def feed() -> None:
            try:
                proc.stdin.write(stdin.encode("utf-8"))
                proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
        threading.Thread(target=feed, daemon=True).start()
    deadline = started + timeout if timeout else None
    timed_out = cancelled = False
    # A pidfd becomes readable the moment the child exits: no polling delay on short commands (Popen.wait's
    # timeout loop sleeps 1, 2, 4... ms between checks). The timeout and cancel checks still run every 50 ms.
    pidfd = _pidfd(proc.pid)
    while True:
        if pidfd is not None:
            select.select([pidfd], [], [], 0.05)
            if proc.poll() is not None:
                break
        else:
            try:
                proc.wait(timeout=0.05)
                break
            except subprocess.TimeoutExpired:
                pass
        if deadline is not None and time.time() >= deadline:
            timed_out = True
        elif cancel is not None and cancel.is_set():
            cancelled = True
        if timed_out or cancelled:
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=kill_grace)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
            break
    if pidfd is not None:
        os.close(pidfd)
    # Grandchildren may still hold the pipes open: give the readers a moment, then end the group.
    for t in pumps:
        t.join(timeout=1.0)
    if any(t.is_alive() for t in pumps):
        _signal_group(proc, signal.SIGKILL)
        # With the group gone the pipes end; a reader still busy is only slow (a loaded machine, a large
        # output streamed line by line): let it finish, or the output is cut short (and its JSON lost).
        for t in pumps:
            t.join(timeout=30.0)
    rc = proc.returncode
    if timed_out:
        err.append(f"timed out after {timeout:g}s; the process group was terminated\n")
    return Completed(argv, rc if rc is not None else -1, "".join(out), "".join(err), started, time.time(),
                     timed_out=timed_out, cancelled=cancelled)
