"""A step's output on its way from a worker to the follower of a Temporal run.

Live: the worker numbers the events its runner emits for the step (output lines, retries; a compensation's)
and each heartbeat carries the newest of them as its details. The server keeps only the last heartbeat's
details, on the pending activity, outside the history; the follower reads them with describe and shows the
lines it has not shown yet (a gap, when more came between two looks than a heartbeat carries, is said).

At the end: the step's result keeps its events' tail and the tail of its stdout and stderr within budgets,
per step and per run, and says what it dropped, so a chatty step cannot push a payload past the server's
blob limit (2 MB by default) nor a run's history towards its size limit.
"""
from __future__ import annotations

import json
import threading
from collections import deque
from typing import Any

from ..events import RunEvent, record
from ..execute import size_text

LIVE_BYTES = 128 * 1024  # the newest events a heartbeat carries
EVENT_BYTES = 128 * 1024  # a step's events its result keeps (the newest)
STREAM_BYTES = 128 * 1024  # of stdout and of stderr, the tail a result keeps (what `steps.<id>.stdout` reads)
JSON_BYTES = 256 * 1024  # a step's parsed JSON output kept up to this size (later steps read it as data)
RUN_BYTES = 2 * 1024 * 1024  # what a run's results keep in all; past it each step keeps SPENT_BYTES of each
SPENT_BYTES = 4 * 1024
_OVERHEAD = 64  # what one event costs besides its line


def _cost(rec: dict) -> int:
    return _OVERHEAD + len(rec.get("line") or "") + len(rec.get("message") or "")


class Recording:
    """One attempt's events as its runner emits them (masked there, as for a local journal), numbered from 0;
    the newest kept within LIVE_BYTES. Written by the step's thread, read by the activity's heartbeats."""

    def __init__(self, key: str, attempt: int, phase: str) -> None:
        self.key, self.attempt, self.phase = key, attempt, phase
        self.count = 0  # events emitted so far: the next one's number
        self._newest: deque[tuple[int, dict]] = deque()
        self._bytes = 0
        self._lock = threading.Lock()

    def emit(self, event: RunEvent) -> None:
        rec = record(event)
        with self._lock:
            self._newest.append((self.count, rec))
            self.count += 1
            self._bytes += _cost(rec)
            while self._bytes > LIVE_BYTES and len(self._newest) > 1:
                self._bytes -= _cost(self._newest.popleft()[1])

    def tail(self, budget: int = LIVE_BYTES) -> list[tuple[int, dict]]:
        """The newest events (number, record) within `budget` bytes, oldest first."""
        with self._lock:
            kept: list[tuple[int, dict]] = []
            spent = 0
            for item in reversed(self._newest):
                spent += _cost(item[1])
                if kept and spent > budget:
                    break
                kept.append(item)
        return kept[::-1]

    def details(self) -> dict:
        """What a heartbeat carries: whose events these are and the newest of them."""
        return {"key": self.key, "attempt": self.attempt, "phase": self.phase, "events": self.tail()}


def _tail_text(text: str, budget: int) -> tuple[str, int]:
    """`text` cut to its last `budget` bytes at a line start, after a line saying what was cut; (text, bytes
    kept)."""
    data = text.encode("utf-8", errors="replace")
    if len(data) <= budget:
        return text, len(data)
    cut = data[len(data) - budget:]
    start = cut.find(b"\n") + 1 if b"\n" in cut[:-1] else 0
    cut = cut[start:]
    dropped = data[:len(data) - len(cut)]
    lines = dropped.count(b"\n")
    note = f"[... {lines} lines ({size_text(len(dropped))}) of output not kept in the run's history ...]\n"
    return note + cut.decode("utf-8", errors="replace"), len(cut)


def spent(results: dict[str, dict]) -> int:
    """What a run's results keep of output so far (see `bounded`)."""
    return sum(int(r.get("kept") or 0) for r in results.values())


def bounded(done: dict, recording: Recording, already: int, field: str = "events", cut: bool = True) -> dict:
    """A step's result as data (`done`), its output cut to the budgets (unless `cut` is False: a compensation's
    result holds its step's outcome, cut already), with its recording's events under `field`; `already` is
    what the run's results kept before it. Adds to `kept`, the bytes the result keeps."""
    room = SPENT_BYTES if already >= RUN_BYTES else None
    kept = 0
    outcome = done.get("outcome")
    if outcome and cut:
        for name in ("stdout", "stderr"):
            outcome[name], n = _tail_text(outcome.get(name) or "", room or STREAM_BYTES)
            kept += n
        if outcome.get("json") is not None:
            size = len(json.dumps(outcome["json"], separators=(",", ":")))
            if size > (room or JSON_BYTES):
                outcome["json"] = None
                done["json_dropped"] = size  # the follower's `show` can say why steps.<id>.json is empty
            else:
                kept += size
    events = recording.tail(room or EVENT_BYTES)
    done[field] = {"attempt": recording.attempt, "events": [[n, rec] for n, rec in events]}
    done["kept"] = int(done.get("kept") or 0) + kept + sum(_cost(rec) for _, rec in events)
    return done
