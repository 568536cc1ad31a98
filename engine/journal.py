"""The run journal: one directory per run, the audit record of the change and what resume and rollback read.

A run directory (`<runs dir>/<run id>/`) holds `meta.json` (who, what, options, plan fingerprints),
`playbook.yaml` (the playbook as run), `inputs.json` (resolved inputs, secrets masked), `events.jsonl`
(append-only, one JSON object per event, flushed and fsynced before the engine goes on), `state.json` (a
summary rewritten atomically) and `output/` (each step's captured stdout and stderr).

`JournalSink` writes; it is the first sink of a run so that `step_started` is on disk before the step
runs. `RunsLock` keeps a second writer out of a runs directory. `read_journal` replays a run directory.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .errors import JournalError, JournalWriteError
from .events import (AttemptStarted, RollbackAbandoned, RollbackBegun, RollbackFailed, RollbackStarted,
                     RollbackSucceeded, RunEvent, RunFinished, RunStarted, RunStopped, StepFailed, StepKept,
                     StepOutput, StepRetry, StepSkipped, StepStarted, StepSucceeded, given, record)
# The state every reader and the writer share, folded from the events (`RunState` is also read from here).
from .runstate import FORMAT, RunState, step_summary
META, PLAYBOOK, INPUTS, EVENTS, STATE, OUTPUT, LOCK = (
    "meta.json", "playbook.yaml", "inputs.json", "events.jsonl", "state.json", "output", ".lock")
MASK = "***"
# A journal holds what steps printed and the before-state of what they changed (a Secret's old value, say):
# only its owner may read it.
DIR_MODE, FILE_MODE = 0o700, 0o600
_MAX_NAME = 200
# Events after which the state summary is rewritten (output lines and retries are too frequent to matter).
_STATE_KINDS = frozenset({RunStarted, StepSucceeded, StepFailed, StepSkipped, StepKept, RunStopped, RollbackBegun,
                          RollbackSucceeded, RollbackFailed, RollbackAbandoned, RunFinished})
# Events synced to disk before the engine goes on: those after which something acts (a step or rollback
# starts, a retry runs) or the run ends. The others (a step's end, a skip...) are written at once but synced
# with the next of these, or by a background flush _SYNC_WINDOW seconds later, whichever comes first: one
# sync per step instead of two. A killed process loses nothing (the bytes are written); after a crash of the
# machine inside that window a step's end may be missing, and `resume` runs that step again, as it does for
# any step whose end the journal lacks.
_SYNC_NOW = frozenset({AttemptStarted, RunStarted, StepStarted, StepRetry, RunStopped, RollbackBegun, RollbackStarted,
                       RunFinished})
_SYNC_WINDOW = 0.05
# state.json is rewritten at once after the events that change a run's course (start, failure, stop, rollback,
# end); after these frequent ones it is rewritten by the same background flush, or with the next immediate
# rewrite, whichever comes first: a chain of short steps no longer replaces a file after each (~0.1-0.4 ms on
# ext4, which starts writing a file out when it replaces another by rename). events.jsonl stays the record.
_STATE_LATER = frozenset({StepSucceeded, StepSkipped, StepKept})
_MEND = "free space or mend permissions, then `playbook resume {run}` or `playbook rollback {run}`"


def event_record(event: RunEvent) -> dict[str, Any]:
    """An event as one JSON object: the shape of the journal's lines and of `--output json`."""
    return record(event)


def _oserror_text(err: OSError) -> str:
    if err.errno == errno.ENOSPC:
        return "no space left on device"
    if err.errno == errno.EROFS:
        return "read-only file system"
    return err.strerror or str(err)


def write_atomic(path: Path, text: str, *, durable: bool = True, sync_dir: bool = True) -> None:
    """Replace `path` with `text` so a reader sees the old or the new file, never half of one.

    `durable` syncs the file and then (unless `sync_dir` is false: the caller syncs it once for several
    files) its directory."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE), "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        if durable:
            os.fsync(fh.fileno())
    os.replace(tmp, path)
    if durable and sync_dir:
        _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def output_name(key: str) -> str:
    """A file name for a step key (keys may hold `/` or `:` from for_each items), short enough for any file system
    (255 bytes, less `.NN.out`): a long key keeps its start and a hash of the whole."""
    name = re.sub(r"[^A-Za-z0-9._\[\]=@+-]", lambda m: "%%%02X" % ord(m.group()), key)
    if len(name) > _MAX_NAME:
        name = name[:_MAX_NAME - 17] + "~" + hashlib.sha256(key.encode()).hexdigest()[:16]
    return name


def mask_inputs(values: dict[str, Any], secrets: set[str]) -> dict[str, Any]:
    return {k: (MASK if k in secrets and v not in (None, "") else v) for k, v in values.items()}


# -- the lock ------------------------------------------------------------------------------------------


class RunsLock:
    """An exclusive lock on a runs directory, held by `run`, `resume` and `rollback` while they write.

    flock is released by the kernel when the holder dies, SIGKILL included, so there is never a stale lock.
    """

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = Path(runs_dir)
        self.path = self.runs_dir / LOCK
        self._fh: IO[str] | None = None

    def acquire(self, run_id: str, command: str, grace: float = 1.0) -> None:
        """Take the lock or raise JournalError naming the run that holds it.

        A holder that is just dying (a child between fork and exec still shares the lock) gets `grace` seconds.
        """
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
            fh = open(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, FILE_MODE), "a+", encoding="utf-8")
        except OSError as err:
            raise JournalError(f"cannot write the run journal in {self.runs_dir}: {_oserror_text(err)}",
                               hint="pass --runs-dir DIR (or PLAYBOOK_RUNS_DIR) to journal somewhere writable"
                               ) from None
        if not _flock_within(fh, grace):
            holder = _read_holder(fh)
            fh.close()
            who = (f"run {holder.get('run_id')} (`playbook {holder.get('command')}`, pid {holder.get('pid')}, "
                   f"since {holder.get('since')})") if holder else "another playbook process"
            raise JournalError(f"the journal directory {self.runs_dir} is in use by {who}",
                               hint="one run at a time per journal directory: wait for it to end, or pass "
                                    "--runs-dir DIR to journal elsewhere") from None
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(json.dumps({"pid": os.getpid(), "run_id": run_id, "command": command,
                                 "since": time.strftime("%Y-%m-%d %H:%M:%S")}) + "\n")
            fh.flush()
        except OSError as err:
            fh.close()
            raise JournalError(f"cannot write the run journal in {self.runs_dir}: {_oserror_text(err)}") from None
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()  # closing drops the flock
            self._fh = None

    def __enter__(self) -> "RunsLock":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _flock_within(fh: IO[str], grace: float) -> bool:
    deadline = time.monotonic() + grace
    while True:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)


def lock_holder(runs_dir: Path) -> dict[str, Any] | None:
    """Who holds the runs directory's lock now, or None when nobody does."""
    path = Path(runs_dir) / LOCK
    try:
        fh = open(path, encoding="utf-8")
    except OSError:
        return None
    with fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fh) or {}
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return None


def _read_holder(fh: IO[str]) -> dict[str, Any]:
    try:
        fh.seek(0)
        return json.loads(fh.read() or "{}")
    except (OSError, ValueError):
        return {}


# -- writing --------------------------------------------------------------------------------------------


class JournalSink:
    """The event sink that writes a run directory; a write it cannot make raises JournalError."""

    def __init__(self, run_dir: Path, state: RunState | None = None, *, sync: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.state = state or RunState(run_id=self.run_dir.name)
        self.sync = sync
        self.broken: JournalError | None = None
        self._lock = threading.Lock()
        self._outputs: dict[tuple[str, str], IO[str]] = {}
        self._fd: int | None = None
        self._step_json: dict[str, str] = {}  # step key -> its encoded state.json entry (see _state_text)
        # Group commit: see _SYNC_NOW. `_unsynced` is set while appended events wait for their fdatasync.
        self._sync_now = True
        self._unsynced = False
        self._state_dirty = False  # a deferred state.json rewrite is due (see _STATE_LATER)
        self._state_retry = False  # the background rewrite failed: the next event makes it, or stops the run
        self._flusher: threading.Thread | None = None
        self._flush_wanted = threading.Condition(self._lock)
        # Steps whose output files this sink opened; None when files may exist it did not make (a reopened
        # journal). A new journal's step with no output then rotates nothing: no look at the disk per step.
        self._with_output: set[str] | None = None

    # creating and reopening

    @classmethod
    def create(cls, run_dir: Path, *, meta: dict[str, Any], playbook_text: str,
               inputs: dict[str, Any]) -> "JournalSink":
        """Make a new run directory with its meta, playbook copy and masked inputs; then open the log."""
        run_dir = Path(run_dir)
        sink = cls(run_dir)
        try:
            run_dir.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
            run_dir.mkdir(exist_ok=True, mode=DIR_MODE)
            if (run_dir / EVENTS).exists():
                raise JournalError(f"{run_dir} already holds a run journal", hint="each run needs its own id")
            # Each file synced; the directory once, by _open below (after the log is created in it too).
            write_atomic(run_dir / META, json.dumps({"format": FORMAT, **meta}, indent=2, default=str) + "\n",
                         sync_dir=False)
            write_atomic(run_dir / PLAYBOOK, playbook_text, sync_dir=False)
            write_atomic(run_dir / INPUTS, json.dumps(inputs, indent=2, default=str) + "\n", sync_dir=False)
        except OSError as err:
            raise sink._error(err) from None
        sink._with_output = set()
        sink._open()
        return sink

    @classmethod
    def reopen(cls, run_dir: Path) -> "JournalSink":
        """Open an existing journal to append (resume, rollback), dropping a line torn by a crash."""
        view = read_journal(run_dir)
        sink = cls(run_dir, view.state)
        path = Path(run_dir) / EVENTS
        try:
            with open(path, "rb+") as fh:
                data = fh.read()
                if data and not data.endswith(b"\n"):
                    fh.truncate(data.rfind(b"\n") + 1)
                    os.fsync(fh.fileno())
        except OSError as err:
            raise sink._error(err) from None
        sink._open()
        return sink

    def _open(self) -> None:
        try:
            self._fd = os.open(self.run_dir / EVENTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
            (self.run_dir / OUTPUT).mkdir(exist_ok=True, mode=DIR_MODE)
            if self.sync:
                _fsync_dir(self.run_dir)
        except OSError as err:
            raise self._error(err) from None

    def _error(self, err: OSError, *, during_run: bool = False) -> JournalError:
        run = self.run_dir.name
        return (JournalWriteError if during_run else JournalError)(f"cannot write the run journal {self.run_dir}: {_oserror_text(err)}; "
                            "the run stops rather than act unrecorded", hint=_MEND.format(run=run))

    # the sink

    def emit(self, event: RunEvent) -> None:
        if isinstance(event, StepOutput):
            self._output(event)
            return
        with self._lock:
            if self.broken is not None:
                raise self.broken
            rec = event_record(event)
            try:
                self._sync_now = type(event) in _SYNC_NOW
                self._append((json.dumps(rec, default=str, ensure_ascii=False) + "\n").encode("utf-8"))
                self.state.fold(event)
                if event.key is not None:
                    self._step_json.pop(event.key, None)  # apply changed this step (and no other)
                if isinstance(event, (StepStarted, StepRetry)):
                    self._rotate_output(event.key)
                if type(event) in _STATE_LATER and not self._state_retry:
                    self._state_dirty = True
                    self._start_flusher()
                    self._flush_wanted.notify()
                elif type(event) in _STATE_KINDS or self._state_retry:
                    self._write_state()
            except OSError as err:
                self.broken = self._error(err, during_run=True)
                raise self.broken from None

    def _write_state(self) -> None:
        # A summary for people and tools; events.jsonl is the record, so no fsync here. It holds every step:
        # compact JSON, which json's C encoder writes (an indent selects the pure-Python encoder, several times
        # slower on large runs).
        write_atomic(self.run_dir / STATE, self._state_text() + "\n", durable=False)
        self._state_dirty = self._state_retry = False

    def _state_text(self) -> str:
        """Exactly `json.dumps(self.state.summary(live=True), default=str, separators=(",", ":"))`, with each
        step's entry encoded once per change instead of once per write: a run of N steps rewrites the file
        after every step, and re-encoding all N entries each time made long runs quadratic."""
        sep = (",", ":")
        st = self.state
        cache = self._step_json
        parts = []
        for key, step in st.steps.items():
            text = cache.get(key)
            if text is None:
                text = cache[key] = json.dumps({key: step_summary(step)}, default=str, separators=sep)[1:-1]
            parts.append(text)
        head = json.dumps(st.summary_head(live=True), default=str, separators=sep)
        return (f'{head[:-1]},"steps":{{{",".join(parts)}}},'
                f'"start_order":{json.dumps(st.start_order, default=str, separators=sep)}}}')

    def _append(self, data: bytes) -> None:
        """One write per event (a crash leaves at most a torn last line, which readers drop), then fsync."""
        if self._fd is None:
            raise OSError(errno.EBADF, "the journal is closed")
        if self._sync_now:
            self._check_room()
        written = os.write(self._fd, data)
        if written != len(data):
            raise OSError(errno.ENOSPC, "short write")
        if self.sync:
            if self._sync_now:
                # fdatasync: the appended bytes and the file size (all a reader needs), not the timestamps;
                # as durable for an append-only log as fsync, and cheaper on every event.
                os.fdatasync(self._fd)
                self._unsynced = False
            else:
                self._unsynced = True
                self._start_flusher()
                self._flush_wanted.notify()

    def _check_room(self) -> None:
        """Refuse to record that something starts on a file system with no block left: the events after it
        (its end, its output) could not be written. (An append alone can still fit in the last block's slack.)"""
        st = os.fstatvfs(self._fd)
        free = st.f_bfree if os.geteuid() == 0 else st.f_bavail  # root may write into the reserved blocks
        if st.f_blocks and not free:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def _start_flusher(self) -> None:
        if self._flusher is None:
            self._flusher = threading.Thread(target=self._flush_loop, name="journal-sync", daemon=True)
            self._flusher.start()

    def _flush_loop(self) -> None:
        """Syncs events whose sync was deferred and rewrites a state.json left due, _SYNC_WINDOW after them,
        unless a later event did it first."""
        with self._lock:
            while self._fd is not None:
                if not (self._unsynced or (self._state_dirty and not self._state_retry)):
                    self._flush_wanted.wait()
                    continue
                deadline = time.monotonic() + _SYNC_WINDOW
                while self._fd is not None and (left := deadline - time.monotonic()) > 0:
                    self._flush_wanted.wait(left)
                if self._fd is not None and self.broken is None:
                    try:
                        if self._unsynced and self.sync:
                            os.fdatasync(self._fd)
                        self._unsynced = False
                    except OSError as err:  # not raised in this thread: the next event stops the run
                        self.broken = self._error(err, during_run=True)
                        self._unsynced = False
                    if self._state_dirty and not self._state_retry:
                        try:
                            self._write_state()
                        except OSError:
                            # Perhaps a step is filling the disk right now. The next event is appended first
                            # (a step's end must be recorded if it can be), then makes this rewrite itself
                            # and stops the run if it still cannot.
                            self._state_retry = True

    def _output(self, event: StepOutput) -> None:
        # Called from the threads that read a child's pipes: never raise there. Output is flushed, not
        # fsynced; a failure here breaks the journal and the next event stops the run.
        stream = given(event.stream, "stdout")
        try:
            with self._lock:
                fh = self._outputs.get((event.key, stream))
                if fh is None:
                    suffix = "err" if stream == "stderr" else "out"
                    path = self.run_dir / OUTPUT / f"{output_name(event.key)}.{suffix}"
                    fh = open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE), "a", encoding="utf-8")
                    self._outputs[(event.key, stream)] = fh
                    if self._with_output is not None:
                        self._with_output.add(event.key)
                fh.write(given(event.line, "") + "\n")
                fh.flush()
        except OSError as err:
            if self.broken is None:
                self.broken = self._error(err, during_run=True)

    def _rotate_output(self, key: str | None) -> None:
        """A new attempt gets fresh output files; earlier attempts' output is kept beside them (.1.out...)."""
        if key is None or (self._with_output is not None and key not in self._with_output):
            return
        for suffix in ("out", "err"):
            fh = self._outputs.pop((key, "stderr" if suffix == "err" else "stdout"), None)
            if fh is not None:
                fh.close()
            current = self.run_dir / OUTPUT / f"{output_name(key)}.{suffix}"
            if current.exists():
                n = 1
                while (self.run_dir / OUTPUT / f"{output_name(key)}.{n}.{suffix}").exists():
                    n += 1
                os.replace(current, self.run_dir / OUTPUT / f"{output_name(key)}.{n}.{suffix}")

    def update_meta(self, **changes: Any) -> None:
        """Rewrite meta.json with `changes` (resume records the playbook it continued with)."""
        try:
            meta = json.loads((self.run_dir / META).read_text(encoding="utf-8"))
            meta.update(changes)
            write_atomic(self.run_dir / META, json.dumps(meta, indent=2, default=str) + "\n")
        except (OSError, ValueError) as err:
            raise JournalError(f"cannot update {self.run_dir / META}: {err}") from None

    def archive_playbook(self, text: str) -> None:
        """Keep the playbook copy as run so far (playbook.1.yaml...) and store the new one."""
        try:
            n = 1
            while (self.run_dir / f"playbook.{n}.yaml").exists():
                n += 1
            os.replace(self.run_dir / PLAYBOOK, self.run_dir / f"playbook.{n}.yaml")
            write_atomic(self.run_dir / PLAYBOOK, text)
        except OSError as err:
            raise self._error(err) from None

    def close(self) -> None:
        with self._lock:
            if self._unsynced and self._fd is not None:
                try:
                    os.fdatasync(self._fd)
                except OSError:
                    pass  # reported by the run_finished sync that precedes a normal close
                self._unsynced = False
            if self._state_dirty and self._fd is not None and self.broken is None:
                try:
                    self._write_state()
                except OSError:
                    pass  # a summary only: events.jsonl, synced above, is the record
            self._flush_wanted.notify_all()
            for fh in self._outputs.values():
                try:
                    fh.close()
                except OSError:
                    pass
            self._outputs.clear()
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


# -- reading ----------------------------------------------------------------------------------------------


@dataclass
class JournalView:
    """A run directory read back."""

    run_dir: Path
    meta: dict[str, Any]
    inputs: dict[str, Any] | None
    records: list[dict[str, Any]]
    state: RunState

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    def playbook_text(self) -> str:
        return (self.run_dir / PLAYBOOK).read_text(encoding="utf-8")

    def output(self, key: str, stream: str = "stdout") -> str:
        path = self.run_dir / OUTPUT / f"{output_name(key)}.{'err' if stream == 'stderr' else 'out'}"
        try:
            return path.read_text(encoding="utf-8")
        except OSError:
            return ""


_NONE = type(None)
_NUMBER = (int, float)
# The type of each field a reader relies on, in events (by name, whatever the event) and in meta.json.
# A record of another shape is damage (or a hand edit): a located error, never a traceback further on.
_EVENT_FIELDS: dict[str, tuple[type, ...]] = {
    "event": (str,), "step": (str, _NONE), "time": _NUMBER, "rc": (int, _NONE), "message": (str, _NONE),
    "argv": (list, _NONE), "outputs": (dict, _NONE), "exit_code": (int, _NONE), "reason": (str, _NONE),
    "failed": (list, _NONE), "rolled_back": (list, _NONE), "rollback_failed": (list, _NONE),
    "attempt": (int, _NONE), "command": (str, _NONE), "playbook": (str, _NONE), "uses": (str, _NONE),
    "action": (str, _NONE), "name": (str, _NONE), "stream": (str, _NONE), "line": (str, _NONE),
    "kept": (list, _NONE), "changes": (list, _NONE), "steps": (int, list, _NONE), "duration": (*_NUMBER, _NONE),
    "delay": (*_NUMBER, _NONE), "attempts": (int, _NONE), "no_rollback": (bool, _NONE)}
_LIST_OF_STR = ("argv", "failed", "rolled_back", "rollback_failed", "kept")
_META_FIELDS: dict[str, tuple[type, ...]] = {
    "run_id": (str,), "created": (*_NUMBER, _NONE), "playbook": (dict,), "options": (dict,), "secrets": (list,),
    "plan": (dict,)}
# Deeper than any record the engine writes (args hold a rendered manifest); json's parser recurses.
_MAX_JSON_DEPTH = 200


def _type_names(types: tuple[type, ...]) -> str:
    return " or ".join("null" if t is _NONE else {"str": "a string", "int": "an integer", "float": "a number",
                                                  "list": "a list", "dict": "an object", "bool": "true/false"
                                                  }.get(t.__name__, t.__name__) for t in types)


def _shape_problem(rec: Any, fields: dict[str, tuple[type, ...]], what: str) -> str | None:
    """What is wrong with the shape of one record, or None."""
    if not isinstance(rec, dict):
        return f"{what} is {_json_kind(rec)}, not an object"
    for key, types in fields.items():
        if key not in rec:
            continue
        value = rec[key]
        if isinstance(value, bool) and bool not in types:  # True is an int to Python, never to the journal
            return f"field '{key}' is {_json_kind(value)}, not {_type_names(types)}"
        if not isinstance(value, types):
            return f"field '{key}' is {_json_kind(value)}, not {_type_names(types)}"
        if key in _LIST_OF_STR and isinstance(value, list) and not all(isinstance(v, str) for v in value):
            return f"field '{key}' holds something other than strings"
    return None


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return {str: "a string", int: "a number", float: "a number", list: "a list", dict: "an object"}.get(
        type(value), type(value).__name__)


def _json_depth_ok(data: bytes) -> bool:
    """Whether brackets nest no deeper than _MAX_JSON_DEPTH (strings are skipped; a rough, safe bound)."""
    if data.count(b"[") + data.count(b"{") <= _MAX_JSON_DEPTH:
        return True
    depth, in_string, escaped = 0, False, False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > _MAX_JSON_DEPTH:
                return False
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return True


def _load_json(path: Path) -> Any:
    """A JSON file of the journal; JournalError (located) when it cannot be read or parsed."""
    try:
        data = path.read_bytes()
        if not _json_depth_ok(data):
            raise JournalError(f"{path}: nests deeper than {_MAX_JSON_DEPTH} levels; the journal is damaged")
        return json.loads(data)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, RecursionError) as err:
        raise JournalError(f"{path}: cannot be read as JSON ({err}); the journal is damaged",
                           hint="inspect the file; restore it from a backup or remove the run directory") from None


def read_journal(run_dir: Path) -> JournalView:
    """Replay a run directory; a last line torn by a crash is ignored, any other damage is a located error.

    `inputs` is None when inputs.json is missing (resume and rollback refuse such a run).
    """
    run_dir = Path(run_dir)
    try:
        meta = _load_json(run_dir / META)
        raw = (run_dir / EVENTS).read_bytes()
    except FileNotFoundError:
        raise JournalError(f"{run_dir} is not a run journal (no {META} or {EVENTS})") from None
    except OSError as err:
        raise JournalError(f"cannot read the run journal {run_dir}: {_oserror_text(err)}") from None
    problem = _shape_problem(meta, _META_FIELDS, META)
    if problem is None:
        problem = _shape_problem(meta.get("playbook", {}), {"name": (str,), "path": (str,), "sha256": (str,)},
                                 "playbook")
    if problem is None and not all(isinstance(v, dict) for v in meta.get("plan", {}).values()):
        problem = "field 'plan' holds something other than objects"
    if problem is None and not all(isinstance(v, str) for v in meta.get("secrets", [])):
        problem = "field 'secrets' holds something other than strings"
    if problem is not None:
        raise JournalError(f"{run_dir / META}: {problem}; the journal is damaged")
    try:
        inputs = _load_json(run_dir / INPUTS)
    except FileNotFoundError:
        inputs = None
    if inputs is not None and not isinstance(inputs, dict):
        raise JournalError(f"{run_dir / INPUTS}: {_json_kind(inputs)}, not an object of input values; "
                           "the journal is damaged")
    lines = raw.split(b"\n")
    records: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{run_dir / EVENTS}:{number}"
        try:
            if not _json_depth_ok(line):
                raise JournalError(f"{where}: nests deeper than {_MAX_JSON_DEPTH} levels; the journal is damaged")
            rec = json.loads(line)
        except (ValueError, RecursionError):
            if number == len(lines):  # torn by a crash mid-write: that event never happened
                break
            raise JournalError(f"{where}: not a JSON event; the journal is damaged",
                               hint="inspect the file; lines after the damage cannot be trusted") from None
        problem = _shape_problem(rec, _EVENT_FIELDS, "the event")
        if problem is None and "event" not in rec:
            problem = "the event has no 'event' field"
        if problem is not None:
            raise JournalError(f"{where}: {problem}; the journal is damaged",
                               hint="inspect the file; lines after the damage cannot be trusted")
        records.append(rec)
    state = RunState(run_id=run_dir.name, playbook=str(meta.get("playbook", {}).get("name", "")),
                     created=meta.get("created"))
    for rec in records:
        state.apply(rec)
    return JournalView(run_dir=run_dir, meta=meta, inputs=inputs, records=records, state=state)


def plan_fingerprints(prepared: Any) -> dict[str, dict[str, Any]]:
    """Per leaf step: a hash of what it does (`uses`, `with`), of its rollback, and the steps it needs.

    Stored at the start of a run so `resume` can say whether the playbook changed under steps that ran.
    """
    out: dict[str, dict[str, Any]] = {}
    graph = prepared.plan.graph
    for key, node in prepared.plan.nodes.items():
        spec = node.spec
        rb = spec.rollback
        out[key] = {"fp": _hash({"uses": spec.uses, "with": spec.args}),
                    "rollback_fp": _hash({"uses": rb.uses, "with": rb.args} if rb else None),
                    "needs": sorted(graph.predecessors(key))}
    return out


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]
