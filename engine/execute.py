"""The one seam where child processes are started: argv lists, own process group, timeouts, cancellation,
bounded capture of their output.

A timeout or a cancel (Ctrl-C, SIGTERM, a failed sibling) sends SIGTERM to the whole process group, waits
for the group to end or the grace period to pass, then sends SIGKILL to the group, always: a grandchild that
ignores SIGTERM does not outlive its step. (A process that leaves the group with setsid is out of reach.)

The calling thread waits for everything in one poll loop (the pipes, the child's exit through a pidfd, the
clock): no reader threads per child. What is kept of each stream, in memory and passed on to `on_output`
(the journal, the terminal), is its first OUTPUT_HEAD bytes and its last OUTPUT_TAIL bytes; what lies between
is counted and replaced by one line saying so. A caller that parses the output as data (a cluster tool's
look-up before a change, which an undo depends on) asks for it whole with `output_head=None`.
"""
from __future__ import annotations

import errno
import os
import select
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import IO, Callable, Mapping, Sequence

OutputFn = Callable[[str, str], None]  # (stream name, line without newline)

OUTPUT_HEAD = 1024 * 1024  # bytes of each stream kept from its start
OUTPUT_TAIL = 1024 * 1024  # bytes of each stream kept from its end
_LINE_MAX = 64 * 1024  # a longer line is passed on in pieces (the bytes kept are unchanged)
_READ = 64 * 1024
_TICK = 0.05  # how often the timeout and the cancel flag are looked at
_LINGER = 1.0  # after the child exits, how long its pipes may stay open with nothing coming through them
_DRAIN_MAX = 30.0  # after the group is killed, the longest its pipes are still read while output keeps coming


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
    stdout_omitted: int = 0  # bytes left out of `stdout` (see OUTPUT_HEAD, OUTPUT_TAIL)
    stderr_omitted: int = 0

    def __bool__(self) -> bool:
        return self.rc == 0 and not self.timed_out and not self.cancelled

    @property
    def duration(self) -> float:
        return self.ended - self.started


def size_text(n: int) -> str:
    """`n` bytes as people read them: 512 bytes, 1.5 KiB, 2.0 MiB."""
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n}"


class _Capture:
    """One output stream: split into lines for `on_output`, its head and tail kept within their caps."""

    def __init__(self, name: str, on_output: OutputFn | None, head: int | None, tail: int) -> None:
        self.name = name
        self.on_output = on_output
        self.head: list[bytes] = []
        self.head_cap = head
        self.head_left = head if head is not None else float("inf")
        self.tail: deque[bytes] = deque()
        self.tail_size = 0
        self.tail_cap = tail
        self.capped = False
        self.omitted_bytes = 0
        self.omitted_lines = 0
        self.partial = b""

    def feed(self, data: bytes) -> None:
        data = self.partial + data
        if b"\n" in data:
            *lines, data = data.split(b"\n")
            for line in lines:
                self._piece(line + b"\n")
        while len(data) > _LINE_MAX:
            self._piece(data[:_LINE_MAX])
            data = data[_LINE_MAX:]
        self.partial = data

    def _say(self, text: str) -> None:
        if self.on_output is not None:
            self.on_output(self.name, text)

    def _piece(self, piece: bytes) -> None:
        if not self.capped:
            if len(piece) <= self.head_left:
                self.head.append(piece)
                self.head_left -= len(piece)
                self._say(piece.decode("utf-8", errors="replace").rstrip("\n"))
                return
            self.capped = True
            self._say(f"[output beyond {size_text(self.head_cap or 0)} is held back: its last {size_text(self.tail_cap)} "
                      "follow when the process ends]")
        self.tail.append(piece)
        self.tail_size += len(piece)
        while self.tail_size > self.tail_cap:
            first = self.tail[0]
            excess = self.tail_size - self.tail_cap
            if len(first) <= excess or len(self.tail) > 1:
                self.tail.popleft()
                self.tail_size -= len(first)
                self.omitted_bytes += len(first)
                self.omitted_lines += first.endswith(b"\n")
            else:  # one piece longer than the tail: keep its end
                self.tail[0] = first[excess:]
                self.tail_size -= excess
                self.omitted_bytes += excess

    def _marker(self) -> str:
        return f"[... {self.omitted_lines} lines ({size_text(self.omitted_bytes)}) of output omitted ...]"

    def finish(self) -> None:
        if self.partial:
            self._piece(self.partial)
            self.partial = b""
        if self.capped:
            if self.omitted_bytes:
                self._say(self._marker())
            for piece in self.tail:
                self._say(piece.decode("utf-8", errors="replace").rstrip("\n"))

    def text(self) -> str:
        data = b"".join(self.head)
        if self.omitted_bytes:
            data += (self._marker() + "\n").encode()
        return (data + b"".join(self.tail)).decode("utf-8", errors="replace")


def _pidfd(pid: int) -> int | None:
    """A file descriptor that is readable once `pid` has exited (Linux 5.3+), else None."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _exited(pid: int) -> bool:
    """Whether `pid` (our child) has exited, without reaping it: its id keeps naming its process group."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group but its exited leader is left (Linux /proc; True when unknown)."""
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return True
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # fields: state, ppid, pgrp, ...
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != b"Z":
            return True
    return False


class _Pipe:
    """Our end of one of the child's standard streams (a raw descriptor, or a Popen file object's)."""

    __slots__ = ("fd", "_file")

    def __init__(self, fd: int, file: IO[bytes] | None = None) -> None:
        self.fd, self._file = fd, file

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        if self.fd < 0:
            return
        fd, self.fd = self.fd, -1
        if self._file is not None:
            self._file.close()
        else:
            os.close(fd)


class _Child:
    """A started child: its pid (also its process group's id), our ends of its pipes, its exit code once reaped."""

    def __init__(self, pid: int, stdin: _Pipe | None, stdout: _Pipe, stderr: _Pipe,
                 popen: subprocess.Popen | None = None) -> None:
        self.pid, self.stdin, self.stdout, self.stderr = pid, stdin, stdout, stderr
        self.returncode: int | None = None
        self._popen = popen

    def wait(self) -> None:
        if self.returncode is not None:
            return
        if self._popen is not None:
            self.returncode = self._popen.wait()
            return
        try:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        except ChildProcessError:  # reaped elsewhere (a SIGCHLD handler): its code is lost
            self.returncode = -1

    def close_pipes(self) -> None:
        for pipe in (self.stdout, self.stderr, self.stdin):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass


# posix_spawn (glibc: clone with CLONE_VM|CLONE_VFORK) starts a child with less work in this process than
# Popen (no Popen object, no error pipe, no pass of the fd table to close). Popen remains for `cwd`, which
# posix_spawn cannot set, and where POSIX_SPAWN_SETSID is missing.
_SPAWN = hasattr(os, "posix_spawn") and hasattr(os, "POSIX_SPAWN_DUP2")
# Python ignores SIGPIPE (and SIGXFSZ); an ignored signal stays ignored across exec, so as Popen does
# (restore_signals) the child gets their default actions back.
_DEFAULT_SIGNALS = tuple(getattr(signal, name) for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ") if hasattr(signal, name))


def _program(name: str, env: Mapping[str, str] | None) -> str:
    """The file `name` runs, looked up on the child's PATH as Popen does; FileNotFoundError or PermissionError."""
    if os.path.dirname(name):
        return name
    denied = False
    for folder in os.get_exec_path(env):
        path = os.path.join(folder, name)
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
        denied = denied or os.path.exists(path)
    raise (PermissionError if denied else FileNotFoundError)(name)


def _inheritable_fds() -> list[int]:
    """Descriptors above 2 a child would inherit (Python opens none; a parent may have passed some): closed in
    the child, as Popen's close_fds does, so no step holds another's pipe or a caller's descriptor open."""
    try:
        fds = [int(n) for n in os.listdir("/proc/self/fd")]
    except OSError:
        return list(range(3, 256))  # CLOSE of a descriptor that is not open is ignored
    found = []
    for fd in fds:
        if fd > 2:
            try:
                if os.get_inheritable(fd):
                    found.append(fd)
            except OSError:  # the listing's own descriptor, closed since
                pass
    return found


def _spawn(argv: tuple[str, ...], env: Mapping[str, str] | None, cwd: str | None, with_stdin: bool) -> _Child:
    """Start argv in a new session (its own process group) with piped stdout and stderr, stdin piped or
    /dev/null; raises FileNotFoundError or PermissionError when it cannot be run."""
    global _SPAWN
    if _SPAWN and cwd is None:
        path = _program(argv[0], env)
        ours, theirs = [], []
        try:
            for _ in range(3 if with_stdin else 2):
                r, w = os.pipe()
                ours.append(r)
                theirs.append(w)
            if with_stdin:  # the stdin pipe's ends are the other way round
                ours[2], theirs[2] = theirs[2], ours[2]
            if min(theirs) > 2:  # a descriptor already at 0-2 (ours closed) is Popen's to juggle
                actions = [(os.POSIX_SPAWN_DUP2, theirs[2], 0) if with_stdin else
                           (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                           (os.POSIX_SPAWN_DUP2, theirs[0], 1), (os.POSIX_SPAWN_DUP2, theirs[1], 2)]
                actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable_fds()]
                pid = os.posix_spawn(path, list(argv), os.environ if env is None else env, file_actions=actions,
                                     setsid=True, setsigdef=_DEFAULT_SIGNALS)
                return _Child(pid, _Pipe(ours[2]) if with_stdin else None, _Pipe(ours[0]), _Pipe(ours[1]))
        except NotImplementedError:  # no POSIX_SPAWN_SETSID in this libc
            _SPAWN = False
        except BaseException:
            for fd in ours:
                os.close(fd)
            raise
        finally:
            for fd in theirs:
                os.close(fd)
        for fd in ours:
            os.close(fd)
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE if with_stdin else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd, start_new_session=True)
    return _Child(proc.pid, _Pipe(proc.stdin.fileno(), proc.stdin) if proc.stdin else None,
                  _Pipe(proc.stdout.fileno(), proc.stdout), _Pipe(proc.stderr.fileno(), proc.stderr), popen=proc)


def run_process(argv: Sequence[str], *, timeout: float | None = None, cancel: threading.Event | None = None,
                env: Mapping[str, str] | None = None, cwd: str | None = None, stdin: str | None = None,
                on_output: OutputFn | None = None, kill_grace: float = 5.0, output_head: int | None = OUTPUT_HEAD,
                output_tail: int = OUTPUT_TAIL) -> Completed:
    """Run argv (never through a shell) and wait, honouring `timeout` and `cancel`.

    `env` is the child's whole environment (None: this process's own, which costs no copy). Each stream keeps
    its first `output_head` bytes (None: all of it) and its last `output_tail`.
    """
    argv = tuple(str(a) for a in argv)
    started = time.time()
    try:
        proc = _spawn(argv, env, cwd, stdin is not None)
    except FileNotFoundError:
        return Completed(argv, 127, "", f"command not found: {argv[0]}\n", started, time.time(), not_found=True)
    except PermissionError:
        return Completed(argv, 126, "", f"permission denied: {argv[0]}\n", started, time.time())
    out = _Capture("stdout", on_output, output_head, output_tail)
    err = _Capture("stderr", on_output, output_head, output_tail)
    try:
        timed_out, cancelled = _wait(proc, out, err, stdin, timeout, cancel, kill_grace)
    except BaseException:
        # A failing on_output (or an interrupt in this thread) must not leave the child behind.
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    finally:
        proc.close_pipes()
    out.finish()
    err.finish()
    rc = proc.returncode
    stderr = err.text()
    if timed_out:
        stderr += f"timed out after {timeout:g}s; the process group was terminated\n"
    return Completed(argv, rc if rc is not None else -1, out.text(), stderr, started, time.time(),
                     timed_out=timed_out, cancelled=cancelled, stdout_omitted=out.omitted_bytes,
                     stderr_omitted=err.omitted_bytes)


def _wait(proc: _Child, out: _Capture, err: _Capture, stdin: str | None, timeout: float | None,
          cancel: threading.Event | None, kill_grace: float) -> tuple[bool, bool]:
    """Pump the pipes until the child has exited and its pipes are closed; end the group on timeout/cancel."""
    pid = proc.pid
    now = time.monotonic()
    deadline = now + timeout if timeout else None
    poller = select.poll()
    streams: dict[int, _Capture] = {}
    for fd, capture in ((proc.stdout.fileno(), out), (proc.stderr.fileno(), err)):
        streams[fd] = capture
        poller.register(fd, select.POLLIN)
    feed_fd, pending = -1, b""
    if stdin is not None and proc.stdin is not None:
        feed_fd, pending = proc.stdin.fileno(), stdin.encode("utf-8")
        os.set_blocking(feed_fd, False)
        poller.register(feed_fd, select.POLLOUT)
    pidfd = _pidfd(pid)
    if pidfd is not None:
        poller.register(pidfd, select.POLLIN)
    exited = False
    timed_out = cancelled = False
    kill_at: float | None = None  # set once SIGTERM was sent: when SIGKILL follows
    killed = False
    linger_until: float | None = None  # set once the child exited: how long its pipes may stay open
    drain_end: float | None = None  # set once the group is killed: when reading stops whatever comes
    try:
        while True:
            if not exited and pidfd is None:
                exited = _exited(pid)
            if exited and not streams and (kill_at is None or killed):
                break
            now = time.monotonic()
            wake = _TICK if pidfd is not None else 0.01
            if kill_at is not None and not killed:
                if now >= kill_at or (exited and not _group_alive(pid)):
                    _signal_group(pid, signal.SIGKILL)  # always, once the grace ends or the group is gone
                    killed = True
                    linger_until, drain_end = now + _LINGER, now + _DRAIN_MAX
                    continue
            elif exited:
                # The pipes may stay open a while: output still coming through (a slow reader on a loaded
                # machine restarts the wait with every read), or grandchildren holding them.
                if linger_until is None:
                    linger_until = now + _LINGER
                elif now >= linger_until or (drain_end is not None and now >= drain_end):
                    if killed:
                        break  # a process outside the group holds the pipes: stop reading
                    # Grandchildren still hold the pipes: end the group, then drain what they wrote.
                    _signal_group(pid, signal.SIGKILL)
                    killed = True
                    linger_until, drain_end = now + _LINGER, now + _DRAIN_MAX
                    continue
            elif kill_at is None:
                if deadline is not None and now >= deadline:
                    timed_out = True
                elif cancel is not None and cancel.is_set():
                    cancelled = True
                if timed_out or cancelled:
                    _signal_group(pid, signal.SIGTERM)
                    kill_at = now + kill_grace
                    continue
                if deadline is not None:
                    wake = min(wake, max(deadline - now, 0.0))
            for fd, _ in poller.poll(wake * 1000):
                if fd == pidfd:
                    exited = True
                    poller.unregister(pidfd)
                elif fd == feed_fd:
                    try:
                        sent = os.write(feed_fd, pending[:_READ])
                        pending = pending[sent:]
                    except BlockingIOError:
                        continue
                    except OSError:  # the child closed its stdin: it wants no more
                        pending = b""
                    if not pending:
                        poller.unregister(feed_fd)
                        proc.stdin.close()
                        feed_fd = -1
                else:
                    try:
                        data = os.read(fd, _READ)
                    except OSError as e:
                        if e.errno == errno.EAGAIN:
                            continue
                        data = b""
                    if data:
                        streams[fd].feed(data)
                        if linger_until is not None:
                            linger_until = time.monotonic() + _LINGER
                    else:
                        poller.unregister(fd)
                        del streams[fd]
    finally:
        if pidfd is not None:
            os.close(pidfd)
    proc.wait()
    return timed_out, cancelled
