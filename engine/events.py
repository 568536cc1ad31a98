"""Run events: a closed set of typed events the runner emits and reporters, the notifier and the journal consume.

Each kind is a frozen dataclass; its fields are, in order, the record the journal writes after `event`,
`step` and `time` (`record` below), so `events.jsonl` and `--output json` keep their format. A field left
at `OMIT` is not part of the record. `Event(kind, key, data)` builds the typed event a record describes.
One `StepStatus` names the states a step goes through. Only sinks print or write.

Consumers dispatch on the classes (`functools.singledispatch` tables filled with `on`), never on kind names;
`unhandled` names the kinds a table lacks, so a kind added here and forgotten by a consumer fails a test.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any, Callable, ClassVar, Mapping, Protocol, TypeVar


class StepStatus(str, Enum):
    """Where a step is: the one set of names shared by the runner, the journal, `show` and `resume`."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    ROLLED_BACK = "rolled_back"
    NOT_RUN = "not_run"

    # Read and written as its plain name (in f-strings, JSON, the journal).
    __str__ = str.__str__
    __format__ = str.__format__


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()  # a field this event's record leaves out


@dataclass(frozen=True, kw_only=True)
class RunEvent:
    """Something that happened in a run; `key` is the step it is about (None: the run)."""

    kind: ClassVar[str] = ""
    key: str | None = None
    time: float = field(default_factory=time.time)
    # Fields of a record this version does not know (written by a newer one): kept, shown, never folded.
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def data(self) -> dict[str, Any]:
        """The event's fields as its record has them (after `event`, `step` and `time`)."""
        out = {name: value for name in _own_fields(type(self)) if (value := getattr(self, name)) is not OMIT}
        return {**out, **self.extra} if self.extra else out


_BASE = frozenset({"key", "time", "extra"})


@dataclass(frozen=True, kw_only=True)
class AttemptStarted(RunEvent):
    kind: ClassVar[str] = "attempt_started"
    command: str = OMIT
    changes: list[str] = OMIT
    kept: list[str] = OMIT
    steps: list[str] = OMIT


@dataclass(frozen=True, kw_only=True)
class RunStarted(RunEvent):
    kind: ClassVar[str] = "run_started"
    playbook: str = OMIT
    steps: int = OMIT
    max_parallel: int = OMIT


@dataclass(frozen=True, kw_only=True)
class StepStarted(RunEvent):
    kind: ClassVar[str] = "step_started"
    uses: str | None = OMIT
    name: str | None = OMIT
    action: str = OMIT
    expected: float = OMIT  # seconds, when known in advance (a soak)


@dataclass(frozen=True, kw_only=True)
class StepOutput(RunEvent):
    kind: ClassVar[str] = "step_output"
    stream: str = OMIT
    line: str = OMIT


@dataclass(frozen=True, kw_only=True)
class StepRetry(RunEvent):
    kind: ClassVar[str] = "step_retry"
    attempt: int = OMIT
    message: str = OMIT
    delay: float = OMIT


@dataclass(frozen=True, kw_only=True)
class StepEnded(RunEvent):
    """A step's last attempt ended; what resume and rollback need to rebuild `steps.<id>` and its undo."""

    duration: float | None = OMIT
    rc: int | None = OMIT
    attempts: int = OMIT
    message: str = OMIT
    args: Any = OMIT
    argv: list[str] = OMIT
    outputs: dict[str, Any] = OMIT


@dataclass(frozen=True, kw_only=True)
class StepSucceeded(StepEnded):
    kind: ClassVar[str] = "step_succeeded"


@dataclass(frozen=True, kw_only=True)
class StepFailed(StepEnded):
    kind: ClassVar[str] = "step_failed"
    stderr_tail: str = OMIT
    continue_on_error: bool = OMIT


@dataclass(frozen=True, kw_only=True)
class StepSkipped(RunEvent):
    kind: ClassVar[str] = "step_skipped"
    reason: str = OMIT


@dataclass(frozen=True, kw_only=True)
class StepKept(RunEvent):
    kind: ClassVar[str] = "step_kept"
    reason: str = OMIT


@dataclass(frozen=True, kw_only=True)
class RunStopped(RunEvent):
    kind: ClassVar[str] = "run_stopped"
    reason: str = OMIT


@dataclass(frozen=True, kw_only=True)
class RollbackBegun(RunEvent):
    kind: ClassVar[str] = "rollback_begun"
    steps: int = OMIT


@dataclass(frozen=True, kw_only=True)
class RollbackStarted(RunEvent):
    kind: ClassVar[str] = "rollback_started"
    uses: str = OMIT
    action: str = OMIT


@dataclass(frozen=True, kw_only=True)
class RollbackSucceeded(RunEvent):
    kind: ClassVar[str] = "rollback_succeeded"
    message: str = OMIT
    rc: int | None = OMIT
    duration: float = OMIT


@dataclass(frozen=True, kw_only=True)
class RollbackFailed(RunEvent):
    kind: ClassVar[str] = "rollback_failed"
    message: str = OMIT
    rc: int | None = OMIT
    duration: float = OMIT


@dataclass(frozen=True, kw_only=True)
class RollbackAbandoned(RunEvent):
    kind: ClassVar[str] = "rollback_abandoned"


@dataclass(frozen=True, kw_only=True)
class RunFinished(RunEvent):
    kind: ClassVar[str] = "run_finished"
    exit_code: int = OMIT
    reason: str = OMIT
    failed: list[str] = OMIT
    rolled_back: list[str] = OMIT
    rollback_failed: list[str] = OMIT
    no_rollback: bool = OMIT


@dataclass(frozen=True, kw_only=True)
class DowntimeVerdict(RunEvent):
    """The emulator's downtime monitor's verdict, appended when a run on the emulator ends."""

    kind: ClassVar[str] = "downtime_verdict"
    watched: int = OMIT
    with_downtime: list[str] = OMIT
    windows: dict[str, Any] = OMIT
    zero_downtime: bool = OMIT
    text: str = OMIT


KINDS: dict[str, type[RunEvent]] = {cls.kind: cls for cls in (
    AttemptStarted, RunStarted, StepStarted, StepOutput, StepRetry, StepSucceeded, StepFailed, StepSkipped,
    StepKept, RunStopped, RollbackBegun, RollbackStarted, RollbackSucceeded, RollbackFailed, RollbackAbandoned,
    RunFinished, DowntimeVerdict)}


@functools.cache
def _own_fields(cls: type[RunEvent]) -> tuple[str, ...]:
    """A kind's own fields in order (read once per class: every event is recorded, every line replayed)."""
    return tuple(f.name for f in fields(cls) if f.name not in _BASE)


def Event(kind: str, key: str | None = None, data: Mapping[str, Any] | None = None,  # noqa: N802 — a constructor
          time: float | None = None) -> RunEvent:
    """The typed event of a kind from a record's parts; raises ValueError for a kind outside the set."""
    cls = KINDS.get(kind)
    if cls is None:
        raise ValueError(f"unknown event kind {kind!r}")
    names = _own_fields(cls)
    data = dict(data or {})
    known = {k: v for k, v in data.items() if k in names}
    extra = {k: v for k, v in data.items() if k not in names}
    if time is None:
        return cls(key=key, extra=extra, **known)
    return cls(key=key, time=time, extra=extra, **known)


def given(value: Any, default: Any = None) -> Any:
    """A field's value, or `default` when the record left it out (`OMIT`)."""
    return default if value is OMIT else value


_F = TypeVar("_F", bound=Callable[..., Any])


def on(table: Any, *classes: type[RunEvent]) -> Callable[[_F], _F]:
    """Register the decorated function as `table`'s handler of each of `classes` (a `functools.singledispatch`
    function, or a `singledispatchmethod` inside its class body)."""
    def register(fn: _F) -> _F:
        for cls in classes:
            table.register(cls, fn)
        return fn
    return register


def unhandled(table: Any) -> list[str]:
    """The kinds of the closed set `table` leaves to its fallback (its handler for `RunEvent` or `object`)."""
    dispatch = getattr(table, "dispatcher", table).dispatch  # a singledispatchmethod keeps the function there
    fallback = dispatch(RunEvent)
    return [kind for kind, cls in KINDS.items() if dispatch(cls) is fallback]


def record(event: RunEvent) -> dict[str, Any]:
    """An event as one JSON object: the shape of the journal's lines and of `--output json`."""
    return {"event": event.kind, "step": event.key, "time": round(event.time, 3), **event.data}


def from_record(rec: Mapping[str, Any]) -> RunEvent | None:
    """The event a journal record holds; None for a kind this version does not know."""
    kind = rec.get("event")
    if kind not in KINDS:
        return None
    data = {k: v for k, v in rec.items() if k not in ("event", "step", "time")}
    return Event(kind, rec.get("step"), data, rec.get("time") or 0.0)


class EventSink(Protocol):
    def emit(self, event: RunEvent) -> None: ...


class Fanout:
    """Sends every event to each sink in order; a sink that raises (a journal that cannot write) stops the run."""

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = [s for s in sinks if s is not None]

    def add(self, sink: EventSink) -> None:
        self.sinks.append(sink)

    def emit(self, event: RunEvent) -> None:
        for sink in self.sinks:
            sink.emit(event)


class Recorder:
    """Keeps every event; for tests and for the final summary."""

    def __init__(self) -> None:
        self.events: list[RunEvent] = []

    def emit(self, event: RunEvent) -> None:
        self.events.append(event)

    def kinds(self, key: str | None = None) -> list[str]:
        return [e.kind for e in self.events if key is None or e.key == key]
