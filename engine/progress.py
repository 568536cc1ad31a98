"""Live progress on a terminal: finished steps scroll by (one line each), and below them a block redrawn in
place shows the graph's steps with their state, each running step's elapsed time (for a soak: its name, the
time left and when it ends) and its last line of output.

Used instead of the plain `TextReporter` when stdout is a terminal; it prints nothing else.
"""
from __future__ import annotations

import shutil
import threading
import time
from typing import IO, Callable

from .durations import format_duration
from .events import (AttemptStarted, DowntimeVerdict, RollbackAbandoned, RollbackBegun, RollbackFailed,
                     RollbackStarted, RollbackSucceeded, RunEvent, RunFinished, RunStarted, RunStopped, StepFailed,
                     StepKept, StepOutput, StepRetry, StepSkipped, StepStarted, StepSucceeded, given)
from .reporter import BEGINS_WORK, Reporter, Running, event_line
from .terminal import neutralise

_MARK = {"pending": "·", "running": "▶", "succeeded": "✔", "failed": "✘", "skipped": "↷", "kept": "=",
         "rolling_back": "⟲", "rolled_back": "⟲", "rollback_failed": "✘"}
_SPIN = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
# The mark each kind of event gives the step it is about; None: it changes no step's mark. Every kind is
# here (a test checks it), so a new kind is placed on purpose.
_STATE_OF: dict[type[RunEvent], str | None] = {
    StepStarted: "running", StepSucceeded: "succeeded", StepFailed: "failed", StepSkipped: "skipped",
    StepKept: "kept", RollbackStarted: "rolling_back", RollbackSucceeded: "rolled_back",
    RollbackFailed: "rollback_failed",
    AttemptStarted: None, RunStarted: None, StepOutput: None, StepRetry: None, RunStopped: None,
    RollbackBegun: None, RollbackAbandoned: None, RunFinished: None, DowntimeVerdict: None}


class LiveReporter(Reporter):
    """An event sink drawing a live block at the bottom of a terminal (ANSI cursor movement only)."""

    def __init__(self, stream: IO[str], keys: list[str], *, show_output: bool = False,
                 shown: frozenset[str] = frozenset(), clock: Callable[[], float] = time.time,
                 size: tuple[int, int] | None = None, tick: float | None = 0.25) -> None:
        """`tick` is how often the elapsed times are redrawn between events (None: only on events);
        `show_output` (-v) scrolls every output line, `shown` those of the steps that show their output."""
        self.stream = stream
        self.keys = list(keys)
        self.show_output = show_output
        self.shown = shown
        self.clock = clock
        self.size = size
        self.state: dict[str, str] = {k: "pending" for k in self.keys}
        self.since: dict[str, Running] = {}
        self.last_line: dict[str, str] = {}
        self._drawn = 0
        self._paused = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._tick = tick

    # the sink

    def emit(self, e: RunEvent) -> None:
        with self._lock:
            if isinstance(e, StepOutput):
                if given(e.line, "").strip():
                    self.last_line[e.key] = neutralise(e.line)
                if self.show_output or e.key in self.shown:
                    self._clear()
                    self.stream.write(neutralise(event_line(e)) + "\n")
                self._redraw()
                return
            mark = _STATE_OF.get(type(e))
            if e.key in self.state and mark is not None:
                self.state[e.key] = mark
                if isinstance(e, BEGINS_WORK):
                    self.since[e.key] = Running.of(e)
                    self.last_line.pop(e.key, None)
            line = event_line(e, stderr_tail=not self.show_output, verbose=self.show_output)
            self._clear()
            if line is not None:
                self.stream.write(neutralise(line) + "\n")
            if isinstance(e, RunFinished):
                self._drawn = 0
                self.stream.flush()
                self._stop.set()
                return
            self._draw()
        if self._ticker is None and self._tick and isinstance(e, (RunStarted, AttemptStarted)):
            self._ticker = threading.Thread(target=self._tick_loop, name="progress", daemon=True)
            self._ticker.start()

    def paused(self, ask: Callable[[], object]) -> object:
        """Run `ask` (a prompt) with the block erased and not redrawn until it returns."""
        with self._lock:
            self._clear()
            self.stream.flush()
            self._paused = True
        try:
            return ask()
        finally:
            with self._lock:
                self._paused = False
                self._draw()

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(1.0)
        with self._lock:
            self._clear()
            self.stream.flush()

    # drawing

    def _tick_loop(self) -> None:
        while not self._stop.wait(self._tick):
            with self._lock:
                self._redraw()

    def _redraw(self) -> None:
        self._clear()
        self._draw()

    def _draw(self) -> None:
        if self._paused:
            return
        lines = self.frame()
        self.stream.write("".join(line + "\n" for line in lines))
        self.stream.flush()
        self._drawn = len(lines)

    def _clear(self) -> None:
        if self._drawn:
            # Up to the first line of the block, then erase to the end of the screen.
            self.stream.write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0

    def frame(self) -> list[str]:
        """The block as lines: a count line, then every step if they fit, else the running ones."""
        cols, rows = self.size or shutil.get_terminal_size((100, 30))
        now = self.clock()
        counts: dict[str, int] = {}
        for st in self.state.values():
            counts[st] = counts.get(st, 0) + 1
        done = sum(counts.get(s, 0) for s in ("succeeded", "skipped", "kept"))
        head = f"── {done}/{len(self.keys)} done"
        for label, st in (("running", "running"), ("failed", "failed"), ("rolling back", "rolling_back"),
                          ("rolled back", "rolled_back"), ("rollback failed", "rollback_failed")):
            if counts.get(st):
                head += f" · {counts[st]} {label}"
        active = [k for k in self.keys if self.state[k] in ("running", "rolling_back")]
        shown = self.keys if len(self.keys) + 1 <= max(3, rows // 2) else active
        spin = _SPIN[int(now * 8) % len(_SPIN)]
        lines = [head[:cols]]
        for key in shown:
            st = self.state[key]
            if st in ("running", "rolling_back"):
                running = self.since.get(key) or Running(now)
                tail = self.last_line.get(key, "")
                if running.expected:  # a soak: what it is, how long is left, when it ends
                    text = f" {spin} {running.progress(key, now)}"
                else:
                    text = f" {spin} {key}  {format_duration(max(0.0, now - running.since))}"
                text += f"  │ {tail}" if tail else ""
            else:
                text = f" {_MARK.get(st, '?')} {key}"
            lines.append(text[:cols - 1])
        return lines
